"""``distill evaluate MODEL``: how close the model's generated sound is to its collection."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error


def evaluate(
    model: str = typer.Argument(..., help="Model name or id in the library, or a .distillgan path."),
    data: Path = typer.Option(
        None, "--data", help="The training folder (default: where the model was trained, from its file)."
    ),
    count: int = typer.Option(16, "--count", "-n", help="Sounds to generate (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(0, help="First seed."),
    mode: str = typer.Option(None, "--mode", help="one-shot or continuous (default: the model's)."),
    vocoder: str = typer.Option("auto", help="auto, bundled or bigvgan (as for generate)."),
    save: bool = typer.Option(
        True, "--save/--no-save", help="Record the result in the model file (shown by `distill models info`)."
    ),
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers to this JSON file."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
) -> None:
    """Generate COUNT sounds with MODEL and measure how close they are to its training files.

    Fréchet distance of log-mel frame statistics (with held-out files and noise as references), the
    spread of length / onset / crest factor, held-out resynthesis and the memorization check."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log or pipe: keep each table row on one line
    with exit_on_user_error():
        from distill.generation.params import GenerationParams
        from distill.model import DistillModel

        GenerationParams(mode=mode, vocoder=vocoder, seed=seed).check()  # bad values fail before loading
        loaded = DistillModel.load(model, library=library)
        evaluate_and_show(
            console,
            loaded,
            data=data,
            count=count,
            seed=seed,
            mode=mode,
            vocoder=vocoder,
            save=save,
            json_out=json_out,
        )


def evaluate_and_show(
    console, loaded, *, save: bool = True, json_out: Path | None = None, **settings
) -> dict:
    """Evaluate a loaded model (``settings``: those of ``evaluate_generation``), print the table and,
    with ``save``, record it in the model's file; ``distill package --evaluate`` runs this too."""
    from distill.evaluation.generation import evaluate_generation
    from distill.files import check_writable, write_text_atomic
    from distill.report.tables import evaluation_lines, evaluation_tables

    # Where the result goes is checked before the minutes of evaluating, not after them.
    if json_out is not None:
        check_writable(json_out)
    if save and loaded.path is not None:
        check_writable(loaded.path)
    with console.status("evaluating") as status:
        result = evaluate_generation(
            loaded, on_progress=lambda message: status.update(f"evaluating: {message}"), **settings
        )
    recorded = result.as_dict()
    for table in evaluation_tables(recorded):
        console.print(table)
    for line in evaluation_lines(recorded):
        console.print(line)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(recorded, indent=2) + "\n")
        console.print(f"wrote {json_out}")
    if save and loaded.path is not None:
        result.record_in(loaded.path)
        console.print(f"recorded in {loaded.path}")
    return recorded
