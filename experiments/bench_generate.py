"""Generation speed and memory: 10 s and 60 s of audio from a small-tier model, on 2 threads.

    .venv/bin/python experiments/bench_generate.py [--durations 10 60] [--repeats 3]

Each duration runs in a fresh process, so its peak RSS (ru_maxrss) is its own: flat memory means
the 60 s peak is no higher than the 10 s one. The model is built from the YAML defaults of the
small tier (RVQ-VAE, 128-hidden/2-layer prior, the default Vocos vocoder) with untrained weights; the
cost of every stage depends on the sizes, not on the weight values. Each process generates once
to warm up (first-call allocations), then reports the median of ``--repeats`` timed runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RTF_10S = 0.25
TARGET_RSS_GB = 1.5


def build_small_tier_model(workdir: Path):
    import hydra
    import torch
    from omegaconf import OmegaConf

    from distill.config import compose_config
    from distill.model import DistillModel

    common = ["data=small", "data.path=/unused", f"paths.output_dir={workdir}", f"paths.cache_dir={workdir}"]
    vqvae_cfg = compose_config(["model=vqvae", *common])
    run = workdir / "vqvae-run"
    run.mkdir()
    OmegaConf.save(vqvae_cfg, run / "config.yaml")  # the prior's config reads its grid shape from here
    prior_cfg = compose_config(["model=prior", f"model.vqvae={run}", *common])
    vocoder_cfg = compose_config(["model=vocoder", *common])

    torch.manual_seed(0)
    vqvae = hydra.utils.instantiate(vqvae_cfg.model.net)
    vqvae.train()(torch.randn(8, 128, 96) * 2 - 6)  # k-means init of the codebooks, as training starts
    configs = {
        name: OmegaConf.to_yaml(cfg, resolve=True)
        for name, cfg in (("vqvae", vqvae_cfg), ("prior", prior_cfg), ("vocoder", vocoder_cfg))
    }
    return DistillModel(
        metadata={"name": "bench-small", "id": "bench"},
        configs=configs,
        vqvae=vqvae,
        prior=hydra.utils.instantiate(prior_cfg.model.net),
        vocoder_generator=hydra.utils.instantiate(vocoder_cfg.model.generator),
        mel_config=hydra.utils.instantiate(vqvae_cfg.data.mel),
    )


def child(duration: float, repeats: int) -> dict:
    import torch

    from distill.generation.params import GenerationParams
    from distill.generation.pipeline import run_generation

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = build_small_tier_model(workdir)
        run_generation(model, GenerationParams(duration_s=1.0))  # warm-up
        runs = []
        for seed in range(repeats):
            started = time.perf_counter()
            result = run_generation(model, GenerationParams(duration_s=duration, seed=seed))
            export_started = time.perf_counter()
            result.audio.save(workdir / "out.wav")
            stages = {**result.stage_seconds, "export": time.perf_counter() - export_started}
            stages["total"] = time.perf_counter() - started
            runs.append(stages)
    median = {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"duration": duration, "seconds": median, "peak_rss_gb": peak_rss_gb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.repeats)))
        return

    rows = []
    for duration in args.durations:
        command = [sys.executable, __file__, "--child", str(duration), "--repeats", str(args.repeats)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))

    stages = ["prior", "decode", "vocoder", "export", "total"]
    print(f"small-tier model, 2 threads, median of {args.repeats} runs per duration (fresh process each)")
    print(f"{'audio':>7} " + " ".join(f"{s + ' s':>10}" for s in stages) + f" {'RTF':>6} {'peak RSS':>9}")
    for row in rows:
        seconds = row["seconds"]
        rtf = seconds["total"] / row["duration"]
        cells = " ".join(f"{seconds[s]:>10.2f}" for s in stages)
        print(f"{row['duration']:>6.0f}s {cells} {rtf:>6.3f} {row['peak_rss_gb']:>7.2f}GB")
    by_duration = {row["duration"]: row for row in rows}
    if 10.0 in by_duration:
        ten = by_duration[10.0]
        rtf = ten["seconds"]["total"] / 10.0
        print(f"10 s in {ten['seconds']['total']:.2f} s: RTF {rtf:.3f} (target <= {TARGET_RTF_10S})")
    if 10.0 in by_duration and 60.0 in by_duration:
        ratio = by_duration[60.0]["peak_rss_gb"] / by_duration[10.0]["peak_rss_gb"]
        print(f"peak RSS 60 s / 10 s: {ratio:.2f}x (flat = about 1.0; target < {TARGET_RSS_GB} GB)")


if __name__ == "__main__":
    main()
