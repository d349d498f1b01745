"""What a W&B dashboard of each model kind holds: short offline runs of the RVQ-VAE, the prior and
the vocoder (debug-size, on the demo's synthetic sounds), then every key each run logged, by
section, as the dashboard groups them.

    .venv/bin/python experiments/wandb_panels.py [--out /tmp/wandb_panels]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

from distill.config import compose_config
from distill.demo.sounds import write_demo_sounds
from distill.train import train

_MEDIA_FIELDS = {"_type", "bins", "values", "format", "height", "width", "path", "sha256", "size",
                 "captions", "count", "filenames", "audio", "sampleRates"}  # fmt: skip
SHORT = ["debug=default", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "logger=wandb"]


def logged_keys(run_dir: Path) -> set[str]:
    """Every key of the run's history records (read as ``wandb sync`` would; the reader is the
    tests' own, tests/wandb_offline.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from wandb_offline import wandb_records

    [folder] = (run_dir / "wandb").glob("offline-run-*")
    keys = set()
    for record in wandb_records(folder):
        if record.WhichOneof("record_type") == "history":
            keys |= {"/".join(item.nested_key) or item.key for item in record.history.item}
    # Media and histograms arrive as several fields (path, size, bins, ...): one panel each.
    panels = {key.rsplit("/", 1)[0] if key.rsplit("/", 1)[-1] in _MEDIA_FIELDS else key for key in keys}
    return {key for key in panels if not key.startswith("_")}


def sections(keys: set[str]) -> dict[str, list[str]]:
    grouped = defaultdict(list)
    for key in sorted(keys):
        grouped[key.split("/")[0] if "/" in key else "(top)"].append(key)
    return grouped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/wandb_panels"))
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    sounds = args.out / "sounds"
    write_demo_sounds(sounds)
    cache = f"paths.cache_dir={args.out / 'cache'}"
    runs = {}
    for kind, extra in (
        (
            "vqvae",
            [
                "callbacks.codebook_health.every_n_steps=2",
                "callbacks.reconstruction_preview.every_n_epochs=1",
            ],
        ),
        ("vocoder", ["model.regression_steps=2", "callbacks.vocoder_preview.every_n_epochs=1"]),
        ("prior", [f"model.vqvae={args.out / 'vqvae'}", "callbacks.prior_samples.every_n_epochs=1"]),
    ):
        runs[kind] = args.out / kind
        cfg = compose_config(
            [f"model={kind}", f"data.path={sounds}", cache, f"paths.output_dir={runs[kind]}", *SHORT, *extra]
        )
        train(cfg)
    for kind, run_dir in runs.items():
        print(f"\n== {kind} ==")
        for section, keys in sections(logged_keys(run_dir)).items():
            print(f"{section:<10} {', '.join(keys)}")


if __name__ == "__main__":
    main()
