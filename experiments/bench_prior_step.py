"""The prior's training step at every tier: the cell prior against the flat prior (the default) at
the same width and depth, on 2 threads, measured side by side in one run.

    .venv/bin/python experiments/bench_prior_step.py [--tiers small medium large] [--steps 12] [--bf16]

Each prior is built from its tier's YAML defaults (``model/prior_net=cell`` and ``=flat``: the
same temporal width, layers, window and batch) and trained on random code windows of the
window's full length: forward, cross-entropy, backward, AdamW step, as a training step does. The
cost does not depend on the token values. Median seconds per step after 3 warm-up steps.

``--bf16`` also times both under bfloat16 autocast (what ``cpu_bf16`` turns on; Lightning's
bf16-mixed) and prints how much faster than float32 each is: the measurement behind each
prior_net option's ``cpu_bf16``. Only meaningful on a CPU with bfloat16 in hardware.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import hydra
import torch
from bench_generate import tier_configs

TARGET_SPEEDUP = 3.0
WARMUP = 3


def seconds_per_step(prior_cfg, steps: int, *, bf16: bool = False) -> float:
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with precision:
        return _seconds_per_step(prior_cfg, steps)


def _seconds_per_step(prior_cfg, steps: int) -> float:
    torch.manual_seed(0)
    net = hydra.utils.instantiate(prior_cfg.model.net).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    batch = prior_cfg.data.batch_size
    tokens = torch.randint(0, net.codebook_size, (batch, net.context_tokens))
    file_start = torch.rand(batch) < 0.25
    times = []
    for _ in range(WARMUP + steps):
        started = time.perf_counter()
        loss = net(tokens, file_start=file_start).nll(tokens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times[WARMUP:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--bf16", action="store_true", help="also time both under bfloat16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(
        f"prior training step, 2 threads, median of {args.steps} steps (batch and window of the tier's defaults)"
    )
    with tempfile.TemporaryDirectory() as folder:
        for tier in args.tiers:
            seconds = {}
            for prior_net in ("cell", "flat"):
                _, prior_cfg = tier_configs(Path(folder), tier, prior_net)
                seconds[prior_net] = seconds_per_step(prior_cfg, args.steps)
            speedup = seconds["flat"] / seconds["cell"]
            verdict = "ok" if speedup >= TARGET_SPEEDUP else f"under {TARGET_SPEEDUP:.0f}x"
            print(
                f"tier {tier} step cell {seconds['cell']:.3f}s flat {seconds['flat']:.3f}s"
                f"  {speedup:.1f}x faster  [{verdict}]"
            )
            if args.bf16:
                for prior_net in ("cell", "flat"):
                    _, prior_cfg = tier_configs(Path(folder), tier, prior_net)
                    mixed = seconds_per_step(prior_cfg, args.steps, bf16=True)
                    print(
                        f"tier {tier} {prior_net} bf16-mixed {mixed:.3f}s:"
                        f" {seconds[prior_net] / mixed:.2f}x the float32 speed"
                    )


if __name__ == "__main__":
    main()
