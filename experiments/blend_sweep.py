"""A blend sweep measured: KAD x1000 of blends of model A towards model B to each model's training
files, at weights 0, 0.25, 0.5, 0.75 and 1 (``distill.generation.blend``), plus a PNG of the mels.

    .venv/bin/python experiments/blend_sweep.py A B [--how mix|resynth] [--count 8] [--library DIR]
        [--out outputs/blend-sweep]

A blend that moves from A to B has its distance to A's files rise and to B's fall as the weight
grows. Both are printed with their 95 % intervals; the last line says whether both are monotonic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from distill.evaluation.embedding import SoundEmbedding
from distill.evaluation.embedding_metrics import kad_with_interval
from distill.evaluation.generation import collection_files
from distill.generation.blend import BlendParams, run_blend
from distill.generation.params import GenerationParams
from distill.model import DistillModel

sys.path.insert(0, str(Path(__file__).parent))
from eval_generation import plot_side_by_side  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--how", default="mix", choices=["mix", "resynth"])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--library", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/blend-sweep"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    first = DistillModel.load(args.first, library=args.library)
    second = DistillModel.load(args.second, library=args.library)
    rate = first.mel_config.sample_rate
    embedding = SoundEmbedding()
    # "A" and "B" too: two model files may share a name (every pipeline's is "pipeline").
    labels = (f"A ({first.name})", f"B ({second.name})")
    references = {
        label: embedding.embed(collection_files(model, None)[1], rate)
        for label, model in zip(labels, (first, second), strict=True)
    }
    distances: dict[str, list[float]] = {name: [] for name in references}
    pictured = []
    for weight in WEIGHTS:
        blends = [
            run_blend(first, second, GenerationParams(seed=seed), BlendParams(kind=args.how, weight=weight))
            for seed in range(args.count)
        ]
        pictured.append((f"w {weight}", [blend.audio.samples for blend in blends[:4]]))
        embedded = embedding.embed([blend.audio.samples for blend in blends], rate)
        line = [f"weight {weight:4.2f}:"]
        for name, reference in references.items():
            score = kad_with_interval(reference, embedded)
            distances[name].append(score.value)  # KAD x1000
            line.append(f"to {name} {score.value:7.1f} [{score.low:.0f}, {score.high:.0f}]")
        print("  ".join(line), flush=True)
    to_first, to_second = (np.array(distances[label]) for label in labels)
    rises, falls = bool(np.all(np.diff(to_first) > 0)), bool(np.all(np.diff(to_second) < 0))
    print(
        f"distance to {labels[0]} rises monotonically: {rises}; to {labels[1]} falls monotonically: {falls}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    plot_side_by_side(args.out / f"blend-{args.how}.png", pictured, first.mel_config, width=3.0)
    print(f"wrote {args.out / f'blend-{args.how}.png'}")


if __name__ == "__main__":
    main()
