"""Data pipeline benchmark: mel cache vs decoding every epoch, and the loader's share of a step.

    python experiments/bench_data.py [--files 60] [--seconds 3.0]

Synthesises a folder of 48 kHz / 24-bit / stereo recordings (the common sample-library format,
so decoding includes a resample and a mixdown), then measures in one run:
  1. one training epoch (augmentation on, the default) with the on-disk cache vs with decoding
     on every access (cache_dir=null), and the same without augmentation;
  2. per-batch loader time vs the step time of the default RVQ-VAE (1.6 M-parameter 2-D conv,
     forward + backward + AdamW), as the loader's share of a step.
Targets: cache >= 5x faster than decoding; loader <= 10 % of a step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def synthesise(folder: Path, count: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    sr = 48000
    for index in range(count):
        t = np.arange(int(sr * seconds * rng.uniform(0.5, 1.5))) / sr
        tone = np.sin(2 * np.pi * rng.uniform(60, 800) * t) * np.exp(-t * rng.uniform(1, 8))
        noise = rng.standard_normal(len(t)) * np.exp(-t * 20) * 0.3
        left, right = 0.5 * (tone + noise), 0.5 * (0.8 * tone + noise)
        sf.write(
            folder / f"take_{index:03d}.wav",
            np.stack([left, right], 1).astype(np.float32),
            sr,
            subtype="PCM_24",
        )


def build_datamodule(folder: Path, cache_dir: Path | None, *, augment: bool, batch_size: int):
    """The shipped data settings (configs/data/small.yaml), pointed at the benchmark folder."""
    import hydra

    cfg = compose_train(["data=small", f"data.path={folder}", f"data.batch_size={batch_size}"])
    options = {"cache_dir": str(cache_dir) if cache_dir else None, "crops_per_file": 4, "val_fraction": 0.1}
    if not augment:
        options["augment"] = None
    datamodule = hydra.utils.instantiate(cfg.data, **options)
    datamodule.setup("fit")
    return datamodule


def epoch_seconds(datamodule) -> float:
    torch.manual_seed(0)
    start = time.perf_counter()
    for _ in datamodule.train_dataloader():
        pass
    return time.perf_counter() - start


def compose_train(overrides: list[str]):
    from distill.config import compose_config

    return compose_config([*overrides, "paths.output_dir=/tmp", "paths.cache_dir=/tmp"])


def build_model():
    import hydra

    return hydra.utils.instantiate(compose_train(["data=small", "data.path=/unused"]).model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder, cache = scratch / "sounds", scratch / "cache"
        folder.mkdir()
        synthesise(folder, args.files, args.seconds)
        start = time.perf_counter()
        build_datamodule(folder, cache, augment=True, batch_size=16)
        prepare = time.perf_counter() - start

        rows = []
        for augment in (True, False):
            cached = epoch_seconds(build_datamodule(folder, cache, augment=augment, batch_size=16))
            decoding = epoch_seconds(build_datamodule(folder, None, augment=augment, batch_size=16))
            rows.append((augment, cached, decoding))

        # Loader share of a training step (cache + augmentation: the default training path).
        model = build_model()
        model.net.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loader = iter(build_datamodule(folder, cache, augment=True, batch_size=16).train_dataloader())
        batch = next(loader)
        model.net(batch.mel)  # k-means init outside the timing
        load_time = step_time = 0.0
        for _ in range(args.steps):
            start = time.perf_counter()
            batch = next(loader)
            load_time += time.perf_counter() - start
            start = time.perf_counter()
            out = model.net(batch.mel)
            loss = model.loss(out.recon, batch.mel, batch.frame_mask) + out.commit_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_time += time.perf_counter() - start

    params = sum(p.numel() for p in model.net.parameters())
    print(
        f"{args.files} files of ~{args.seconds:.1f} s, 48 kHz 24-bit stereo; torch threads: {torch.get_num_threads()}"
    )
    print(f"first preparation (decode + resample + mel, written to the cache): {prepare:.2f} s\n")
    print(f"{'epoch (4 crops/file, batch 16)':<34}{'cached':>10}{'decoding':>10}{'speed-up':>10}")
    for augment, cached, decoding in rows:
        label = "augmentation on (default)" if augment else "augmentation off"
        print(f"{label:<34}{cached:>9.2f}s{decoding:>9.2f}s{decoding / cached:>9.1f}x")
    share = load_time / (load_time + step_time)
    print(
        f"\nloader vs step ({params / 1e6:.2f} M-param RVQ-VAE, batch 16 x 128 x 96, {args.steps} steps):"
        f" loader {1000 * load_time / args.steps:.1f} ms, step {1000 * step_time / args.steps:.0f} ms"
        f" -> loader share {share:.1%}"
    )
    target_ok = all(decoding / cached >= 5 for _, cached, decoding in rows) and share <= 0.10
    print(f"targets (cache >= 5x, loader <= 10 %): {'met' if target_ok else 'NOT met'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
