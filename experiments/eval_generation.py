"""How close is a model's generated sound to its collection? The product's evaluation, plus pictures.

Runs ``distill.evaluation.generation.evaluate_generation`` (the table ``distill evaluate`` prints)
on MODEL, then writes what a person looks at beside the numbers: a PNG of the mels of the first
8 generated sounds next to 8 training files, and the generated sounds as WAVs.

    .venv/bin/python experiments/eval_generation.py MODEL [--data FOLDER] [--count 16]
        [--mode one-shot|continuous] [--generated FOLDER] [--out outputs/eval-generation]
        [--temperature 1.0] [--top-p 0.95]

MODEL is a library name or a .distillgan file. ``--generated FOLDER`` measures the audio files in
FOLDER instead of generating (e.g. what an older version of distill wrote with the same model's
collection), so a before/after comparison is on one scale. ``--temperature`` / ``--top-p`` draw
the sounds with other sampling settings than the defaults (GenerationParams), for a sweep.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from distill.audio.io import is_audio_path, load_audio
from distill.audio.mel import log_mel
from distill.evaluation.generation import collection_files, evaluate_generation
from distill.evaluation.stages import through_codes
from distill.generation.params import GenerationParams
from distill.generation.pipeline import run_generation
from distill.model import DistillModel
from distill.report.tables import evaluation_lines, evaluation_tables

PICTURED = 8
VIA_CODES_SECONDS = 3.0  # enough for an attack and its decay, short enough to see grain and partials


def plot_side_by_side(
    path: Path, rows: list[tuple[str, list[np.ndarray]]], mel_config, *, width: float = 2.2
) -> None:
    """Log-mels in rows (label, clips), one clip per column, on one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(clips) for _, clips in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(width * columns, 2.3 * len(rows)), squeeze=False)
    for row, (label, clips) in enumerate(rows):
        for column in range(columns):
            ax = axes[row][column]
            ax.set_xticks([])
            ax.set_yticks([])
            if column >= len(clips):
                ax.axis("off")
                continue
            mel = log_mel(torch.from_numpy(clips[column]), mel_config).numpy()
            ax.imshow(mel, origin="lower", aspect="auto", vmin=-11, vmax=2)
            ax.set_title(
                f"{label} {column + 1} ({len(clips[column]) / mel_config.sample_rate:.2f} s)", fontsize=8
            )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="library name or .distillgan file")
    parser.add_argument(
        "--data", type=Path, default=None, help="the training folder (default: from the model)"
    )
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default=None, choices=["one-shot", "continuous"])
    parser.add_argument("--generated", type=Path, default=None, help="measure these audio files instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=None, help="default: GenerationParams'")
    parser.add_argument("--top-p", type=float, default=None, help="default: GenerationParams'")
    parser.add_argument("--out", type=Path, default=Path("outputs/eval-generation"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    model = DistillModel.load(args.model)
    rate = model.mel_config.sample_rate

    sampling = {
        name: value
        for name, value in (("temperature", args.temperature), ("top_p", args.top_p))
        if value is not None
    }

    def generate(index: int) -> np.ndarray:
        params = GenerationParams(mode=args.mode, seed=args.seed + index, **sampling)
        return run_generation(model, params).audio.samples

    given = None
    if args.generated is not None:
        paths = sorted(p for p in args.generated.iterdir() if is_audio_path(p))
        given = [load_audio(p, sample_rate=rate).samples for p in paths]
    elif sampling:  # evaluate_generation draws with the defaults: draw here, measure as given
        given = [generate(index) for index in range(args.count)]
    evaluation = evaluate_generation(
        model, data=args.data, count=args.count, seed=args.seed, mode=args.mode, generated=given
    )
    recorded = evaluation.as_dict()
    from rich.console import Console

    console = Console(width=140)
    for table in evaluation_tables(recorded):
        console.print(table)
    for line in evaluation_lines(recorded):
        console.print(line)
    (args.out / "evaluation.json").write_text(json.dumps(recorded, indent=2) + "\n")

    # The pictures: the same seeds the evaluation generated (the pipeline is reproducible).
    if given is None:
        given = [generate(index) for index in range(min(PICTURED, args.count))]
    if args.generated is None:
        for index, clip in enumerate(given[:PICTURED]):
            sf.write(str(args.out / f"generated-{index}.wav"), clip, rate)
    _, training, _, _ = collection_files(model, args.data)
    plot_side_by_side(
        args.out / "mels.png",
        [("training", training[:PICTURED]), ("generated", given[:PICTURED])],
        model.mel_config,
    )
    # What the code grid keeps: 4 training files' first seconds, as recorded and through the codes.
    spread = [
        training[i] for i in np.linspace(0, len(training) - 1, min(4, len(training))).round().astype(int)
    ]
    opening = [clip[: int(VIA_CODES_SECONDS * rate)] for clip in spread]
    plot_side_by_side(
        args.out / "via_codes.png",
        [("recorded", opening), ("via codes", through_codes(model, opening, "auto"))],
        model.mel_config,
        width=4.0,
    )
    print(f"wrote {args.out / 'evaluation.json'}, mels.png, via_codes.png and the generated WAVs")


if __name__ == "__main__":
    main()
