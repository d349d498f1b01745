"""Generation speed and memory: 10 s of continuous sound at every tier, with the cell prior and
the flat prior (the default) side by side, on 2 threads; then peak memory at 10 s and 60 s.

    .venv/bin/python experiments/bench_generate.py [--tiers small medium large] [--repeats 3]
        [--memory-durations 10 60]

Prints one line per tier (``tier small 10s 0.42s``), the flat prior's figure beside it. Each
measurement runs in a fresh process, so its peak RSS (ru_maxrss) is its own: flat memory means the
60 s peak is no higher than the 10 s one. Models are built from the YAML defaults of each tier
(RVQ-VAE, prior, the default Vocos vocoder) with untrained weights: the cost of every stage depends
on the sizes, not on the weight values. Each process generates once to warm up (first-call
allocations), then reports the median of ``--repeats`` timed runs.
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

TARGET_10S_SECONDS = 1.0  # 10 s of continuous sound at every tier (the factored prior's target)
TARGET_RSS_GB = 1.5
PRIOR_NETS = ("cell", "flat")


def _common(workdir: Path, tier: str) -> list[str]:
    return [f"data={tier}", "data.path=/unused", f"paths.output_dir={workdir}", f"paths.cache_dir={workdir}"]


def tier_configs(workdir: Path, tier: str, prior_net: str):
    """The RVQ-VAE's and the prior's configs of ``tier`` from the YAML defaults (the prior's reads
    its grid shape from a run folder, written under ``workdir``)."""
    from omegaconf import OmegaConf

    from distill.config import compose_config

    vqvae_cfg = compose_config(["model=vqvae", *_common(workdir, tier)])
    run = workdir / f"vqvae-run-{tier}"
    run.mkdir(exist_ok=True)
    OmegaConf.save(vqvae_cfg, run / "config.yaml")
    overrides = ["model=prior", f"model.vqvae={run}", f"model/prior_net={prior_net}", *_common(workdir, tier)]
    return vqvae_cfg, compose_config(overrides)


def build_model(workdir: Path, tier: str, prior_net: str):
    import hydra
    import torch
    from omegaconf import OmegaConf

    from distill.config import compose_config
    from distill.model import DistillModel

    vqvae_cfg, prior_cfg = tier_configs(workdir, tier, prior_net)
    vocoder_cfg = compose_config(["model=vocoder", *_common(workdir, tier)])

    torch.manual_seed(0)
    vqvae = hydra.utils.instantiate(vqvae_cfg.model.net)
    vqvae.train()(torch.randn(8, 128, 96) * 2 - 6)  # k-means init of the codebooks, as training starts
    configs = {
        name: OmegaConf.to_yaml(cfg, resolve=True)
        for name, cfg in (("vqvae", vqvae_cfg), ("prior", prior_cfg), ("vocoder", vocoder_cfg))
    }
    return DistillModel(
        metadata={"name": f"bench-{tier}", "id": "bench"},
        configs=configs,
        vqvae=vqvae,
        prior=hydra.utils.instantiate(prior_cfg.model.net),
        vocoder_generator=hydra.utils.instantiate(vocoder_cfg.model.generator),
        mel_config=hydra.utils.instantiate(vqvae_cfg.data.mel),
    )


def child(tier: str, prior_net: str, duration: float, repeats: int) -> dict:
    import torch

    from distill.generation.params import GenerationParams
    from distill.generation.pipeline import run_generation

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = build_model(workdir, tier, prior_net)
        run_generation(model, GenerationParams(mode="continuous", duration_s=1.0))  # warm-up
        runs = []
        for seed in range(repeats):
            started = time.perf_counter()
            result = run_generation(
                model, GenerationParams(mode="continuous", duration_s=duration, seed=seed)
            )
            export_started = time.perf_counter()
            result.audio.save(workdir / "out.wav")
            stages = {**result.stage_seconds, "export": time.perf_counter() - export_started}
            stages["total"] = time.perf_counter() - started
            runs.append(stages)
    median = {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"duration": duration, "seconds": median, "peak_rss_gb": peak_rss_gb}


def measure(tier: str, prior_net: str, duration: float, repeats: int) -> dict:
    command = [sys.executable, __file__, "--child", tier, prior_net, str(duration), "--repeats", str(repeats)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-durations", type=float, nargs="*", default=[10.0, 60.0])
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        tier, prior_net, duration = args.child
        print(json.dumps(child(tier, prior_net, float(duration), args.repeats)))
        return

    print(f"10 s of continuous sound, 2 threads, median of {args.repeats} runs (fresh process each)")
    for tier in args.tiers:
        rows = {net: measure(tier, net, 10.0, args.repeats)["seconds"] for net in PRIOR_NETS}
        cell, flat = rows["cell"], rows["flat"]
        verdict = "ok" if cell["total"] <= TARGET_10S_SECONDS else f"over {TARGET_10S_SECONDS:.1f}s"
        print(
            f"tier {tier} 10s {cell['total']:.2f}s (prior {cell['prior']:.2f}s)"
            f"   flat {flat['total']:.2f}s (prior {flat['prior']:.2f}s)"
            f"   {flat['total'] / cell['total']:.1f}x faster  [{verdict}]"
        )

    if args.memory_durations:
        stages = ["prior", "decode", "vocoder", "export", "total"]
        print("\nsmall tier, flat prior (the default): stages and peak memory per duration")
        print(f"{'audio':>7} " + " ".join(f"{s + ' s':>10}" for s in stages) + f" {'RTF':>6} {'peak RSS':>9}")
        rows = [measure("small", "flat", duration, args.repeats) for duration in args.memory_durations]
        for row in rows:
            seconds = row["seconds"]
            cells = " ".join(f"{seconds[s]:>10.2f}" for s in stages)
            rtf = seconds["total"] / row["duration"]
            print(f"{row['duration']:>6.0f}s {cells} {rtf:>6.3f} {row['peak_rss_gb']:>7.2f}GB")
        if len(rows) >= 2:
            ratio = rows[-1]["peak_rss_gb"] / rows[0]["peak_rss_gb"]
            print(
                f"peak RSS {rows[-1]['duration']:.0f} s / {rows[0]['duration']:.0f} s: {ratio:.2f}x"
                f" (flat = about 1.0; target < {TARGET_RSS_GB} GB)"
            )


if __name__ == "__main__":
    main()
