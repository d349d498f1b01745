"""Do the controls follow the request? Each control swept over 0, 0.25, 0.5, 0.75 and 1 of the
collection's range, ``--count`` sounds per value, each sound's descriptor measured on its audio
(``distill.audio.descriptors``, as the training sounds were): Spearman's rho between requested and
measured per control, and KAD x1000 to the training files of all controlled sounds against as many
unconditioned ones (the quality the controls cost). With ``--notes C3..C5`` (a pitched model),
each key is asked for and the median error in cents is printed.

    .venv/bin/python experiments/control_sweep.py MODEL [--controls loudness,brightness]
        [--count 8] [--notes C2..C6 --note-step 3] [--duration S] [--guidance G] [--candidates N]
        [--tuning decoder|rate] [--library DIR]
        [--out outputs/control-sweep]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from distill.audio.control_space import DESCRIPTORS, format_value, note_name, note_range
from distill.audio.descriptors import describe
from distill.evaluation.embedding import SoundEmbedding
from distill.evaluation.embedding_metrics import kad_with_interval
from distill.evaluation.generation import collection_files
from distill.generation.params import GenerationParams
from distill.model import DistillModel

sys.path.insert(0, str(Path(__file__).parent))
from eval_generation import plot_side_by_side  # noqa: E402

VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (as Spearman's rho needs: 8 sounds per value tie)."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        same = values == value
        ranked[same] = ranked[same].mean()
    return ranked


def spearman(x: list[float], y: list[float]) -> float:
    return float(np.corrcoef(ranks(np.asarray(x)), ranks(np.asarray(y)))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument(
        "--controls", default=None, help="comma-separated (default: all the model has; none: only --notes)"
    )
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--notes", default=None, help="a key range such as C2..C6 (pitched models)")
    parser.add_argument("--note-step", type=int, default=1, help="every n-th key of --notes")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance (1 = off)")
    parser.add_argument(
        "--candidates",
        type=int,
        default=None,
        help="draws per sound, the nearest kept (default: the model's)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="the longest a one-shot may run (default: the model's)"
    )
    parser.add_argument(
        "--tuning", default="decoder", choices=["decoder", "rate"], help="how a note is reached"
    )
    parser.add_argument("--library", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/control-sweep"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = DistillModel.load(args.model, library=args.library)
    space = model.controls
    if space is None:
        raise SystemExit(f"{args.model} has no controls")
    if args.controls == "none":  # only --notes
        names = []
    elif args.controls:
        names = args.controls.split(",")
    else:
        names = [name for name in DESCRIPTORS if name in space.ranges]
    rate = model.mel_config.sample_rate
    embedding = SoundEmbedding()
    reference = embedding.embed(collection_files(model, None)[1], rate)

    chosen: list[dict] = []  # what the pipeline measured of each controlled sound it kept

    def make(seed: int, controls: dict) -> np.ndarray:
        params = GenerationParams(
            seed=seed,
            temperature=args.temperature,
            duration_s=args.duration,
            controls=controls,
            guidance=args.guidance if controls else 1.0,
            candidates=args.candidates if controls else None,
            tuning=args.tuning,
        )
        audio = model.generate(params).audio
        if controls:
            chosen.append(audio.metadata["controls_chosen"])
        return audio.samples

    if names:
        free = [make(seed, {}) for seed in range(args.count * len(VALUES))]
        free_kad = kad_with_interval(reference, embedding.embed(free, rate))
        print(
            f"unconditioned: KAD {free_kad.value:.1f} [{free_kad.low:.0f}, {free_kad.high:.0f}]", flush=True
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        index = DESCRIPTORS.index(name)
        requested, measured, sounds, pictured = [], [], [], []
        for value in VALUES:
            made = [make(1000 + seed, {name: value}) for seed in range(args.count)]
            described = [describe(torch.from_numpy(samples), model.mel_config)[index] for samples in made]
            sounds += made
            pictured.append((f"{name} {value}", made[:4]))
            requested += [value] * len(made)
            measured += described
            asked = format_value(name, space.ranges[name].absolute(value))
            finite = [d for d in described if math.isfinite(d)]
            got = format_value(name, float(np.median(finite))) if finite else "none"
            print(f"  {name} {value:4.2f} (= {asked}): median measured {got}", flush=True)
        pairs = [(r, m) for r, m in zip(requested, measured, strict=True) if math.isfinite(m)]
        rho = spearman(*zip(*pairs, strict=True)) if len(pairs) > 2 else float("nan")
        kad = kad_with_interval(reference, embedding.embed(sounds, rate))
        change = kad.value / free_kad.value - 1 if free_kad.value > 0 else float("nan")
        print(
            f"{name}: Spearman rho {rho:.3f} over {len(pairs)} sounds; KAD {kad.value:.1f}"
            f" [{kad.low:.0f}, {kad.high:.0f}] ({change:+.0%} against unconditioned)",
            flush=True,
        )
        plot_side_by_side(args.out / f"{name}.png", pictured, model.mel_config, width=3.0)
    if args.notes:
        keys = [round(key) for key in note_range(args.notes)][:: args.note_step]
        errors = []
        for key in keys:
            samples = make(2000 + key, {"pitch": note_name(key)})
            found = describe(torch.from_numpy(samples), model.mel_config)[DESCRIPTORS.index("pitch")]
            error = 100 * (found - key) if math.isfinite(found) else float("nan")
            errors.append(error)
            shown = f"{found:.2f} ({note_name(found)})" if math.isfinite(found) else "no pitch"
            tuned = chosen[-1]["retuned_semitones"]
            how = (
                "rendered by the decoder"
                if "rendered_at_hz" in chosen[-1]
                else f"tuned {100 * tuned:+.0f} cents"
            )
            print(
                f"  {note_name(key)} ({key}): measured {shown}, error {error:+.0f} cents"
                f" (drawn {chosen[-1]['measured'].get('pitch')}, {how})",
                flush=True,
            )
        finite = np.abs([e for e in errors if math.isfinite(e)])
        median = float(np.median(finite)) if len(finite) else float("nan")
        within = float(np.mean(finite <= 50)) if len(finite) else float("nan")
        print(
            f"notes: median |error| {median:.0f} cents over {len(finite)} of {len(keys)} keys with a pitch;"
            f" {within:.0%} within 50 cents",
            flush=True,
        )
    print(f"wrote the mel PNGs to {args.out}")


if __name__ == "__main__":
    main()
