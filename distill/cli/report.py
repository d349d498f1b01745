"""``distill report``: one self-contained HTML page on a model (or on one training run)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error

# A page plays its sounds inline: beyond these, it is a typo or a page no browser opens well.
MAX_SOUNDS = 100
MAX_SECONDS = 600.0


def report(
    model: str = typer.Argument(
        None, help="Model name or id in the library, or a .distillgan path (or give --run instead)."
    ),
    run: Path = typer.Option(None, "--run", help="A training run folder to report on instead of a model."),
    output: Path = typer.Option(
        None, "--output", "-o", help="The HTML file to write (default: <model or run name>-report.html here)."
    ),
    sounds: int = typer.Option(
        3, "--sounds", help="Generated sounds, and held-out files reconstructed, to include."
    ),
    seed: int = typer.Option(0, help="First generation seed: the same seed gives the same page."),
    seconds: float = typer.Option(4.0, "--seconds", help="Longest a sound on the page plays, in seconds."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
) -> None:
    """Write one HTML page on MODEL (or --run RUN_DIR): loss curves, codebook health, the prior's
    per-level NLL and memorization check, vocoder quality, the generation evaluation, and a few
    generated and reconstructed sounds to listen to, with their mels and code grids.

    Examples: distill report drums -o drums.html; distill report --run logs/vqvae/runs/<run>
    """
    from rich.console import Console

    console = Console(stderr=True)
    with exit_on_user_error():
        from distill.errors import UserError

        if (model is None) == (run is None):
            raise UserError(
                "Give either a MODEL (a library name or a .distillgan file) or --run RUN_DIR, not both or neither."
            )
        from distill.generation.params import check_seeds

        if not 0 <= sounds <= MAX_SOUNDS or not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
            raise UserError(
                f"--sounds must be from 0 to {MAX_SOUNDS} and --seconds in (0, {MAX_SECONDS:.0f}],"
                f" got {sounds} and {seconds}."
            )
        check_seeds(seed, sounds)
        with console.status("gathering the report"):
            data, name = _gather(model, run, library, sounds=sounds, seed=seed, seconds=seconds)
            target = _output_path(output, name)
            from distill.report.page import write_page

            written = write_page(data, target)
        console.print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")


def _gather(model, run, library, *, sounds: int, seed: int, seconds: float):
    if run is not None:
        from distill.errors import UserError
        from distill.report.build import run_report

        run_dir = run.expanduser()
        if not run_dir.is_dir():
            raise UserError(
                f"Run folder {run_dir} does not exist; give a training run folder (logs/vqvae/runs/<run>)."
            )
        return run_report(run_dir, sounds=sounds, max_seconds=seconds), run_dir.name
    from distill.model import DistillModel
    from distill.report.build import model_report

    loaded = DistillModel.load(model, library=library)
    return model_report(loaded, source=model, sounds=sounds, seed=seed, max_seconds=seconds), loaded.name


def _output_path(output: Path | None, name: str) -> Path:
    from distill.errors import UserError

    target = (output if output is not None else Path(f"{name}-report.html")).expanduser()
    if not target.parent.is_dir():
        raise UserError(
            f"Folder {target.parent} for the report does not exist; create it or pass -o with another path."
        )
    if target.is_dir():
        raise UserError(f"{target} is a folder; pass -o with a file name such as {target / 'report.html'}.")
    return target
