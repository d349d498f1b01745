"""Before/after pictures and audio of code-grid edits on two real sounds.

Encodes A and B with MODEL, then writes to OUT, for each edit, a PNG of the mel and grid before
and after (``distill.codes.plot.plot_edit``) and the rendered audio of both: transplant (B's high
rows into A's first half), morph (A to B over time), infill (A's middle third), level variation
(A's levels >= 1):

    .venv/bin/python experiments/show_edits.py MODEL A B [--library DIR] [--out edits/]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--library", default=None)
    parser.add_argument("--out", type=Path, default=Path("edits"))
    args = parser.parse_args()

    from distill import DistillModel
    from distill.codes import edits
    from distill.codes.grid import Region
    from distill.codes.plot import plot_edit

    model = DistillModel.load(args.model, library=args.library)
    a, b = model.encode(args.a), model.encode(args.b)
    half = max(1, min(a.columns, b.columns) // 2)
    third = max(1, a.columns // 3)
    shown = {
        "transplant": (
            edits.transplant(a, Region(0, half, rows=(a.rows // 2, a.rows)), b, 0),
            (0, half, (a.rows // 2, a.rows), None),
        ),
        "morph": (edits.morph(a, b, model, weight=[0.0, 1.0]), None),
        "infill": (
            edits.infill(a, model, start=third, stop=2 * third, seed=0),
            (third, 2 * third, None, None),
        ),
        "vary_levels": (
            edits.vary_levels(a, model, from_level=1, seed=0),
            (0, a.columns, None, (1, a.levels)),
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    model.render(a).save(args.out / "a.wav", sidecar=False)
    model.render(b).save(args.out / "b.wav", sidecar=False)
    for name, (after, region) in shown.items():
        image = plot_edit(
            (model.decode(a), a.codes),
            (model.decode(after), after.codes),
            args.out / f"{name}.png",
            frames_per_column=a.frames_per_column,
            codebook_size=model.vqvae.quantizer.codebook_size,
            region=region,
            title=f"{name}: {args.a.name}"
            + (f" <- {args.b.name}" if name in ("transplant", "morph") else ""),
        )
        model.render(after).save(args.out / f"{name}.wav", sidecar=False)
        print(f"wrote {image} and {name}.wav")


if __name__ == "__main__":
    main()
