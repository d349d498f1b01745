"""How well infill joins both sides: infill with right-context rescoring against left-only resampling.

For each of a model's files long enough (training and held-out, as the model file lists them),
a region of a third of its columns in its middle is resampled with ``distill.codes.edits.infill``
for several seeds, once with ``--candidates`` candidates rescored by the prior's likelihood of the
right-hand columns and once left-only (one candidate). Printed, as means over files and seeds:

- seam jump: mean |mel[:, b] - mel[:, b - 1]| over the bands at each region boundary b of the
  decoded grid, left and right, beside the original grid's jump at the same frames (a boundary
  that sounds like the recording changes as much as the recording did there);
- right-context NLL: the prior's NLL (nats per token) of the columns after the region;
- time per infill.

    .venv/bin/python experiments/eval_infill.py MODEL [--library DIR] [--data FOLDER] [--seeds 4]
        [--candidates 8] [--files 12]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from distill import DistillModel
from distill.codes import edits
from distill.evaluation.generation import collection_files


def seam_jumps(mel: torch.Tensor, frames: tuple[int, int]) -> tuple[float, float]:
    """Mean absolute change across the bands between the frame before and at each boundary."""
    return tuple(float((mel[:, b] - mel[:, b - 1]).abs().mean()) for b in frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--library", default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=edits.INFILL_CANDIDATES)
    parser.add_argument("--files", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = DistillModel.load(args.model, library=args.library)
    _, training, heldout, _ = collection_files(model, args.data)
    grids = [model.encode(clip) for clip in heldout + training]
    grids = [grid for grid in grids if grid.columns >= 6][: args.files]
    if not grids:
        raise SystemExit("no file of at least 6 columns (1.1 s) to infill")
    tokens_per_column = grids[0].levels * grids[0].rows
    methods = {f"rescored ({args.candidates})": args.candidates, "left-only": 1}
    rows = {name: {"left": [], "right": [], "nll": [], "seconds": []} for name in ("original", *methods)}
    for grid in grids:
        width = max(1, grid.columns // 3)
        start = (grid.columns - width) // 2
        stop = start + width
        frames = (start * grid.frames_per_column, stop * grid.frames_per_column)
        original_mel = model.decode(grid)
        left, right = seam_jumps(original_mel, frames)
        nll = edits.right_context_nll(model.prior, grid, grid.codes[None, ..., start:stop], start=start)
        right_columns = min(grid.columns - stop, max(1, model.prior.context_columns // 4))
        for name, value in (
            ("left", left),
            ("right", right),
            ("nll", float(nll[0]) / (right_columns * tokens_per_column)),
        ):
            rows["original"][name].append(value)
        for seed in range(args.seeds):
            for name, candidates in methods.items():
                started = time.perf_counter()
                filled = edits.infill(grid, model, start=start, stop=stop, seed=seed, candidates=candidates)
                rows[name]["seconds"].append(time.perf_counter() - started)
                left, right = seam_jumps(model.decode(filled), frames)
                nll = edits.right_context_nll(
                    model.prior, grid, filled.codes[None, ..., start:stop], start=start
                )
                rows[name]["left"].append(left)
                rows[name]["right"].append(right)
                rows[name]["nll"].append(float(nll[0]) / (right_columns * tokens_per_column))

    print(f"{model.name}: {len(grids)} files, middle third of each infilled, {args.seeds} seeds")
    print(f"{'':<16} {'left seam':>10} {'right seam':>11} {'right NLL':>10} {'s / infill':>11}")
    for name, values in rows.items():
        seconds = f"{statistics.mean(values['seconds']):11.3f}" if values["seconds"] else f"{'—':>11}"
        print(
            f"{name:<16} {statistics.mean(values['left']):10.3f} {statistics.mean(values['right']):11.3f}"
            f" {statistics.mean(values['nll']):10.3f} {seconds}"
        )
    print("seam: mean |mel change| (log-mel units) across each boundary; NLL: nats per right-hand token")


if __name__ == "__main__":
    main()
