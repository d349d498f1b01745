"""Speed and memory of the code-grid path on 2 CPU threads, measured side by side in one run.

Prints:
  1. encode and render of 10 s (``DistillModel.encode`` / ``render``) as multiples of real time
     (target: encode + render of 10 s within 1 s), median of interleaved rounds;
  2. each edit of ``distill.codes.edits`` on a 10 s grid (target: those that do not sample,
     under 50 ms), and infill of a 2 s region (8 candidates) and level variation with the prior;
  3. peak memory (the high-water RSS of a fresh process) of encoding a 30-second and a 5-minute file,
     windowed (``DistillModel.encode``) and, for comparison, in one piece (the whole mel through
     the RVQ-VAE at once, as before windowed encoding); target: 5 min within 1.2x of 30 s.

    .venv/bin/python experiments/bench_codes.py MODEL [--library DIR] [--repeats 5] [--threads 2]

MODEL is a library name or a .distillgan path (e.g. ``make demo``'s: ``--library demo/library demo``).
Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
# A child process: load the model, read the file, encode it one way, report its own peak RSS (MiB).
CHILD = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[4]))


def high_water():  # MiB; VmHWM, reset below so the parent's peak (inherited at fork) does not count
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
from distill import DistillModel
from distill.audio.io import load_audio
from distill.audio.mel import log_mel
model = DistillModel.load(sys.argv[1], library=sys.argv[2] or None)
samples = load_audio(sys.argv[3], sample_rate=model.mel_config.sample_rate).samples
before = high_water()
if sys.argv[5] == "windowed":
    columns = model.encode(samples).columns
else:
    with torch.inference_mode():
        columns = model.vqvae.encode(log_mel(torch.from_numpy(samples), model.mel_config)[None]).shape[-1]
print(json.dumps({"before": before, "peak": high_water(), "columns": columns}))
"""


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts over a slow sweep: a sound whose codes change along it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    sweep = np.sin(2 * np.pi * (200 + 40 * np.sin(0.3 * t)) * t)
    bursts = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 1.7 * t) > 0.7)
    return (0.3 * sweep + 0.2 * bursts).astype(np.float32)


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def peak_memory(model: str, library: str, path: Path, threads: int, how: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, library, str(path), str(threads), how],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--library", default="")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from distill import DistillModel

    torch.set_num_threads(args.threads)
    model = DistillModel.load(args.model, library=args.library or None)
    print(f"model {model.name}: {model.components}, {args.threads} threads")

    ten = clip(10.0)
    model.render(model.encode(ten[: RATE // 2]))  # warm-up: first calls allocate and pick kernels
    rounds = {"encode": [], "render": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        grid = model.encode(ten)
        rounds["encode"].append(time.perf_counter() - started)
        started = time.perf_counter()
        model.render(grid)
        rounds["render"].append(time.perf_counter() - started)
    print(f"\n1. 10 s of audio ({grid.columns} columns), median of {args.repeats} interleaved rounds")
    for name, times in rounds.items():
        median = statistics.median(times)
        print(f"   {name:<8} {median:6.3f} s   {10.0 / median:6.1f}x real time")
    total = sum(statistics.median(times) for times in rounds.values())
    print(f"   encode + render {total:.3f} s (target <= 1 s): {'met' if total <= 1.0 else 'NOT met'}")

    from distill.codes import edits
    from distill.codes.grid import Region

    other = model.encode(clip(10.0, seed=2))
    two_s = round(2.0 / grid.column_seconds)
    middle = (grid.columns - two_s) // 2
    plain = {
        "transplant 2 s, all rows": lambda: edits.transplant(grid, Region(middle, middle + two_s), other, 0),
        "cut 2 s": lambda: edits.cut(grid, middle, middle + two_s),
        "loop 2 s x 3": lambda: edits.loop(grid, middle, middle + two_s, 3),
        "insert 1 s of silence": lambda: edits.insert_silence(grid, model, at=middle, columns=two_s // 2),
        "morph, a ramp": lambda: edits.morph(grid, other, model, weight=[0.0, 1.0]),
    }
    sampled = {}
    if model.prior is not None:
        sampled = {
            "infill 2 s (8 candidates)": lambda: edits.infill(
                grid, model, start=middle, stop=middle + two_s, seed=0
            ),
            "infill 2 s, left-only": lambda: edits.infill(
                grid, model, start=middle, stop=middle + two_s, seed=0, candidates=1
            ),
            "vary levels >= 1, 10 s": lambda: edits.vary_levels(grid, model, from_level=1, seed=0),
            "join with a 1 s bridge": lambda: edits.join(
                grid, other, model, bridge_columns=two_s // 2, seed=0
            ),
        }
    print(f"\n2. edits on a 10 s grid ({grid.columns} columns), median of {args.repeats}")
    for group, target in ((plain, 0.05), (sampled, None)):
        for name, edit in group.items():
            edit()  # warm-up
            median = statistics.median(timed(edit) for _ in range(args.repeats))
            verdict = (
                "" if target is None else ("  (< 50 ms: met)" if median < target else "  (< 50 ms: NOT met)")
            )
            print(f"   {name:<28} {median * 1000:8.1f} ms{verdict}")

    print("\n3. peak memory of encoding (high-water RSS of a fresh process, MiB)")
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for seconds in (30.0, 300.0):
            path = Path(folder) / f"{seconds:.0f}s.wav"
            sf.write(path, clip(seconds, seed=1), RATE, subtype="FLOAT")
            for how in ("windowed", "one piece"):
                results[seconds, how] = peak_memory(args.model, args.library, path, args.threads, how)
        print(
            f"   {'':<10} {'30 s':>8} {'5 min':>8} {'ratio':>7}   (process after loading model + file: 30 s / 5 min)"
        )
        for how in ("windowed", "one piece"):
            short, long = results[30.0, how], results[300.0, how]
            print(
                f"   {how:<10} {short['peak']:8.0f} {long['peak']:8.0f} {long['peak'] / short['peak']:6.2f}x"
                f"   ({short['before']:.0f} / {long['before']:.0f})"
            )
        ratio = results[300.0, "windowed"]["peak"] / results[30.0, "windowed"]["peak"]
        print(
            f"   windowed 5 min / 30 s = {ratio:.2f}x (target <= 1.2x): {'met' if ratio <= 1.2 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
