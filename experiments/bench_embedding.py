"""Speed of the sound-effects embedding (``distill.evaluation.embedding``) on CPU threads.

Embeds 100 synthetic one-shots (0.3-1.5 s: decaying tones over noise bursts, seeded) and prints
the seconds taken (median of ``--repeats`` rounds) and the multiple of real time of the audio
embedded; target: under 10 s on 2 cores. Beside it, in the same run, the same clips embedded one
call per clip (what batching the blocks of all clips together saves), and the model's load time.

    .venv/bin/python experiments/bench_embedding.py [--clips 100] [--repeats 3] [--threads 2]

Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from distill.evaluation.embedding import SAMPLE_RATE, SoundEmbedding


def one_shots(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        t = np.arange(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)) / SAMPLE_RATE
        tone = np.sin(2 * np.pi * rng.uniform(60, 2000) * t) * np.exp(-rng.uniform(2, 12) * t)
        burst = rng.standard_normal(t.size) * np.exp(-rng.uniform(20, 80) * t)
        clips.append((0.5 * tone + rng.uniform(0.0, 0.5) * burst).astype(np.float32))
    return clips


def seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    embedding = SoundEmbedding()
    load_s = time.perf_counter() - start
    clips = one_shots(args.clips)
    audio_s = sum(len(clip) for clip in clips) / SAMPLE_RATE
    embedding.embed(clips[:4], SAMPLE_RATE)  # warm-up: first-call allocations and kernel selection

    batched = seconds(lambda: embedding.embed(clips, SAMPLE_RATE), args.repeats)
    per_clip = seconds(lambda: [embedding.embed([clip], SAMPLE_RATE) for clip in clips], args.repeats)

    print(
        f"{args.clips} one-shots, {audio_s:.1f} s of audio, {args.threads} threads; model load {load_s:.2f} s"
    )
    print(f"{'':24}{'seconds':>10}{'x real time':>14}")
    print(f"{'batched (embed(clips))':24}{batched:>10.2f}{audio_s / batched:>14.1f}")
    print(f"{'one call per clip':24}{per_clip:>10.2f}{audio_s / per_clip:>14.1f}")
    print(f"batching: {per_clip / batched:.2f}x faster; target: under 10 s for 100 one-shots")


if __name__ == "__main__":
    main()
