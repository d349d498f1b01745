"""``distill memorization MODEL``: the prior's memorization check, on demand, for a packaged model.

The model file names its training and held-out files (``dataset.train_files`` / ``val_files``,
relative to ``dataset.root``); they are encoded with the model's own RVQ-VAE, and the check runs
with the settings of configs/model_callbacks/prior.yaml unless options change them.
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
        from distill.bundle.model import DistillModel
        from distill.callbacks.memorization import check_memorization, default_settings
        from distill.cli.model_report import memorization_table
        from distill.errors import UserError
        from distill.evaluation.generation import collection_files

        loaded = DistillModel.load(model, library=library)
        if loaded.prior is None:
            raise UserError(f"Model {loaded.name} has no prior, so there is nothing to check.")
        root, training, heldout, missing = collection_files(loaded, data)
        if missing:
            console.print(f"[yellow]{missing} listed file(s) not found under {root}[/]")

        def grids(clips):
            return [loaded.encode(clip).codes for clip in clips]

        report = check_memorization(
            loaded.prior,
            training=grids(training),
            heldout=grids(heldout),
            settings=default_settings(num_samples=samples, seed=seed),
        )
        console.print(memorization_table(report.to_dict()))
