"""``distill memorization MODEL``: the prior's memorization check, on demand, for a packaged model
(``distill.evaluation.memorization``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error


def memorization(
    model: str = typer.Argument(..., help="Model name or id in the library, or a .distillgan path."),
    data: Path = typer.Option(
        None, "--data", help="The training folder (default: where the model was trained, from its file)."
    ),
    samples: int = typer.Option(None, "--samples", help="Sequences to sample (default: as after training)."),
    seed: int = typer.Option(None, "--seed", help="Sampling seed (default: as after training)."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
) -> None:
    """Check whether MODEL's prior makes new material or replays its training files.

    Samples from the prior and compares the overlap of the samples with the training codes against
    that of held-out files."""
    from rich.console import Console

    console = Console()
    with exit_on_user_error():
        from distill.evaluation.memorization import model_memorization
        from distill.model import DistillModel
        from distill.report.tables import memorization_table

        loaded = DistillModel.load(model, library=library)
        checked = model_memorization(loaded, data=data, samples=samples, seed=seed)
        if checked.missing:
            console.print(f"[yellow]{checked.missing} listed file(s) not found under {checked.root}[/]")
        console.print(memorization_table(checked.report.to_dict()))
