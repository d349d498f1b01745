"""``distill models list|info|add|delete|repair|tag|untag`` and ``distill package``.

The library commands read manifests only (no torch import); ``package`` imports the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error
from distill.cli.help import DistillTyper
from distill.report.model_info import render_info
from distill.report.tables import ENTRY_COLUMNS, NONE, NUMBER_COLUMNS, entry_cells

models_app = DistillTyper(
    help="Your model library: list, inspect, add, tag, delete and repair models.", no_args_is_help=True
)

_LIBRARY_HELP = "Library folder (default: $DISTILL_HOME, else ~/.local/share/distill)."


def _library(root: Path | None):
    from distill.bundle.catalog import ModelLibrary, default_library_root

    return ModelLibrary(root=root if root is not None else default_library_root())


def _console():
    from rich.console import Console

    return Console(highlight=False)


@models_app.command("list")
def list_models(library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP)) -> None:
    """List the models in the library."""
    from rich.table import Table

    console = _console()
    with exit_on_user_error():
        lib = _library(library)
        entries = lib.list()
    if not entries:
        console.print(f"No models in the library at {lib.root} yet; make one with `distill package`.")
        return
    table = Table(title=f"Models in {lib.root}", title_justify="left")
    for column in ENTRY_COLUMNS:
        table.add_column(column, justify="right" if column in NUMBER_COLUMNS else "left")
    for entry in entries:
        table.add_row(*entry_cells(entry).values())
    console.print(table)


@models_app.command("info")
def info(
    model: str = typer.Argument(
        ..., help="Model name, id (or its first 6+ characters), or a .distillgan file."
    ),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Everything a model file records: dataset, codebook health, training, memorization, vocoder,
    generation quality."""
    from distill.bundle import locate_model
    from distill.bundle.format import verify_model_file

    with exit_on_user_error():
        path = locate_model(model, library=library)
        manifest = verify_model_file(path)
    if as_json:
        document = {
            "format_version": manifest.format_version,
            "components": list(manifest.components),
            "sha256": manifest.sha256,
            "metadata": manifest.metadata,
        }
        typer.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
        return
    render_info(_console(), path, manifest)


@models_app.command("add")
def add(
    file: Path = typer.Argument(..., help="A .distillgan file (e.g. from `distill package --output`)."),
    name: str = typer.Option(None, "--name", help="Library name (default: the name the file carries)."),
    tag: list[str] = typer.Option([], "--tag", metavar="<str>", help="A tag to add (repeatable)."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
) -> None:
    """Copy a model file into the library."""
    with exit_on_user_error():
        entry = _library(library).add(file, name=name, tags=tag)
    typer.echo(f"Added {entry.name} (id {entry.id[:8]}) as {entry.path}")


@models_app.command("delete")
def delete(
    model: str = typer.Argument(..., help="Model name or id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
) -> None:
    """Delete a model and its file from the library."""
    with exit_on_user_error():
        lib = _library(library)
        entry = lib.get(model)
        if not yes:
            typer.confirm(f"Delete the model {entry.name} ({entry.path})?", abort=True)
        lib.delete(entry.name)
    typer.echo(f"Deleted {entry.name}.")


@models_app.command("repair")
def repair(library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP)) -> None:
    """Rebuild the library index from the model files (they are the source of truth)."""
    console = _console()
    with exit_on_user_error():
        lib = _library(library)
        report = lib.repair()
    console.print(f"Indexed {len(report.indexed)} model(s) in {lib.root}.")
    for file_name, reason in report.skipped.items():
        console.print(f"[yellow]skipped {file_name}:[/] {reason}")


def _retag(model: str, tags: list[str], library: Path | None, *, add: bool) -> None:
    with exit_on_user_error():
        lib = _library(library)
        name = lib.get(model).name
        entry = lib.tag(name, tags) if add else lib.untag(name, tags)
    typer.echo(f"{entry.name}: tags {', '.join(entry.tags) or NONE}")


@models_app.command("tag")
def tag(
    model: str = typer.Argument(..., help="Model name or id."),
    tags: list[str] = typer.Argument(..., help="Tags to add."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
) -> None:
    """Add tags to a model."""
    _retag(model, tags, library, add=True)


@models_app.command("untag")
def untag(
    model: str = typer.Argument(..., help="Model name or id."),
    tags: list[str] = typer.Argument(..., help="Tags to remove."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
) -> None:
    """Remove tags from a model."""
    _retag(model, tags, library, add=False)


def package(
    vqvae: Path = typer.Option(
        ..., "--vqvae", help="VQ-VAE run folder (or a checkpoint in <run>/checkpoints/)."
    ),
    prior: Path = typer.Option(None, "--prior", help="Prior run trained on that VQ-VAE's codes."),
    vocoder: Path = typer.Option(None, "--vocoder", help="Vocoder run (model=vocoder)."),
    name: str = typer.Option(..., "--name", help="Model name in the library."),
    tag: list[str] = typer.Option([], "--tag", metavar="<str>", help="A tag (repeatable)."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
    output: Path = typer.Option(
        None, "--output", help="Write the .distillgan file here instead of adding it to the library."
    ),
    evaluate: int = typer.Option(
        0,
        "--evaluate",
        help="Then generate this many sounds and record how close they are to the collection"
        " (as `distill evaluate`) in the model file; 0 = skip.",
    ),
) -> None:
    """Package training runs into one .distillgan model and add it to your library."""
    console = _console()
    with exit_on_user_error(), console.status("Packaging"):
        from distill.bundle.package import package_runs

        packaged = package_runs(
            vqvae=vqvae, prior=prior, vocoder=vocoder, name=name, tags=tag, library=library, output=output
        )
    meta = packaged.metadata
    where = "Wrote" if packaged.entry is None else "Added"
    components = ", ".join(meta["training"])
    console.print(f"{where} {name} (id {meta['id'][:8]}; {components}) as {packaged.path}")
    if evaluate:
        from distill.cli.evaluate import evaluate_and_show

        with exit_on_user_error():
            from distill.model import DistillModel

            evaluate_and_show(console, DistillModel.load(str(packaged.path)), count=evaluate)
