"""A tiny packaged model and run folders for the report tests, from test_package.py's fake runs.

The fake runs are real tiny modules with made-up training records; here they get the records a
report draws (several epochs of losses, CSV logs, an evaluation) and a sound folder on disk
holding their held-out files.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from conftest import write_tone

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bundle"))  # test_package.py's folder

from test_package import FakeRuns, make_fake_runs  # noqa: E402

from distill.bundle.format import ComponentPayload, read_model_file, write_model_file  # noqa: E402
from distill.bundle.package import package_runs  # noqa: E402
from distill.config import resolvers  # noqa: E402

resolvers.register()  # the fake runs' configs are composed and resolved, as train() does

VAL_FILES = ["held/hit_7.wav", "held/hit_8.wav"]
EPOCHS = 5


def sound_folder(root: Path) -> Path:
    """The collection's folder with its held-out files on disk (the training files are not needed)."""
    for index, name in enumerate(VAL_FILES):
        write_tone(root / name, seconds=0.8, freq=180.0 * (index + 1))
    return root


def epoch_rows(component: str) -> list[dict]:
    """Per-epoch rows as LossHistory records them; the prior's val - train gap grows every epoch."""
    rows = []
    for epoch in range(EPOCHS):
        step = 10 * (epoch + 1)
        if component == "vqvae":
            row = {"train/loss": 1.0 - 0.1 * epoch, "val/loss": 1.1 - 0.1 * epoch, "val/mel_l1": 0.5}
            for level in range(2):
                row[f"codebook/val/level{level}/utilization"] = 0.5 + 0.1 * epoch - 0.2 * level
                row[f"codebook/val/level{level}/perplexity"] = 20.0 + epoch
                row[f"codebook/val/level{level}/dead_codes"] = 30.0 - epoch
        elif component == "prior":
            row = {"train/loss": 3.0 - 0.4 * epoch, "val/loss": 3.1 - 0.1 * epoch}
            row.update({f"val/nll_level{level}": 3.5 - 0.1 * epoch - level for level in range(2)})
        else:  # a vocoder: val/loss is its val/mstft; train/loss a weighted sum, never comparable
            mstft = 2.0 - 0.1 * epoch
            row = {"train/loss": 40.0, "train/mstft": mstft, "val/loss": mstft, "val/mstft": mstft}
        rows.append({**row, "epoch": epoch, "step": step})
    return rows


EVALUATION = {
    "mode": "continuous",
    "count": 2,
    "distance": {"held-out": 20.0, "via codes": 22.0, "generated": 30.0, "noise": 600.0},
    "frames": {"training": 900, "held-out": 120, "via codes": 120, "generated": 300, "noise": 300},
    "shapes": {},
    "resynthesis": {"files": 2, "mel_l1": 0.3, "mstft": 1.4},
    "memorization": {"flagged": False, "generated_share_mean": 0.05, "heldout_share_mean": 0.04},
    "stages": {
        "embedding": "aisfx",
        "reference": 6,
        "floor": 7.0,
        "floor_spread": 3.0,
        "stages": {
            name: {
                "kad": kad,
                "kad_low": kad - 5,
                "kad_high": kad + 5,
                "one_nn_accuracy": 0.8,
                "n": 2,
                "n_reference": 6,
            }
            for name, kad in (("vocoder", 9.0), ("via codes", 147.0), ("generated", 360.0), ("noise", 612.0))
        }
        | {"held-out": None, "held-out via codes": None},
        "copies": [],
    },
}


def packaged_model(tmp_path: Path) -> tuple[Path, FakeRuns, Path]:
    """(model file, its runs, its sound folder): packaged from the fake runs, with the records
    above and its dataset pointing at a folder that holds the held-out files."""
    runs = make_fake_runs(tmp_path)
    raw = tmp_path / "raw.distillgan"
    package_runs(vqvae=runs.vqvae, prior=runs.prior, vocoder=runs.vocoder, name="drums", output=raw)
    sounds = sound_folder(tmp_path / "sounds")
    contents = read_model_file(raw)
    metadata = dict(contents.metadata)
    metadata["dataset"] = {**metadata["dataset"], "root": str(sounds), "val_files": VAL_FILES}
    metadata["loss_history"] = {name: epoch_rows(name) for name in ("vqvae", "prior", "vocoder")}
    metadata["evaluation"] = EVALUATION
    components = {
        name: ComponentPayload(p.state_dict, p.config_yaml) for name, p in contents.components.items()
    }
    model = tmp_path / "drums.distillgan"
    write_model_file(model, components, metadata)
    return model, runs, sounds


def write_csv_launch(run_dir: Path, launch: str, rows: list[dict]) -> Path:
    """One launch's metrics.csv as Lightning's CSVLogger writes it (one column per metric)."""
    path = run_dir / "csv" / launch / "metrics.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = sorted({key for row in rows for key in row})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def vqvae_csv_rows() -> list[dict]:
    """Training steps every 2 (no epoch column for codebook health, as the monitor logs it) and a
    validation row per epoch."""
    rows = []
    for epoch in range(3):
        for step in range(epoch * 4 + 1, epoch * 4 + 5):
            rows.append({"train/loss": 1.0 / step, "epoch": epoch, "step": step})
            if step % 2 == 0:
                rows.append({"codebook/train/level0/utilization": 0.1 * step, "step": step})
        rows.append(
            {
                "val/loss": 0.5 - 0.1 * epoch,
                "codebook/val/level0/utilization": 0.4 + 0.1 * epoch,
                "epoch": epoch,
                "step": epoch * 4 + 4,
            }
        )
    return rows


def point_dataset_at(run_dir: Path, sounds: Path) -> None:
    """The run's summary lists VAL_FILES under ``sounds`` (fake runs list files under /sounds)."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    summary["dataset"] = {**summary["dataset"], "root": str(sounds), "val_files": VAL_FILES}
    path.write_text(json.dumps(summary))
