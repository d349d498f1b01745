"""``distill models list|info|add|delete|repair|tag|untag`` and ``distill package``.

The library commands read manifests only (no torch import); ``package`` imports the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from distill.cli.errors import exit_on_user_error

models_app = typer.Typer(
    help="Your model library: list, inspect, add, tag, delete and repair models.", no_args_is_help=True
)

_LIBRARY_HELP = "Library folder (default: $DISTILL_HOME, else ~/.local/share/distill)."
_VOCODER_NAMES = {"hifigan": "HiFi-GAN", "bigvgan": "BigVGAN"}
_NONE = "—"


def _library(root: Path | None):
    from distill.bundle.catalog import ModelLibrary, default_library_root

    return ModelLibrary(root=root if root is not None else default_library_root())


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return _NONE
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _percent(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else _NONE


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return _NONE if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _vocoder_text(vocoder_type: str | None, steps: int | None) -> str:
    if vocoder_type is None:
        return _NONE
    label = _VOCODER_NAMES.get(vocoder_type, vocoder_type)
    return f"{label} ({steps} steps)" if steps is not None else label


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
    for column in ("name", "id", "created", "tier", "files", "duration", "components", "vocoder"):
        table.add_column(column, justify="right" if column in ("files", "duration") else "left")
    table.add_column("min codebook use", justify="right")
    table.add_column("tags")
    for entry in entries:
        table.add_row(
            entry.name,
            entry.id[:8],
            entry.created.strftime("%Y-%m-%d %H:%M") if entry.created else _NONE,
            entry.tier or _NONE,
            _number(entry.file_count),
            _duration(entry.duration_s),
            ", ".join(entry.components),
            _vocoder_text(entry.vocoder_type, entry.vocoder_steps),
            _percent(entry.min_codebook_utilization),
            ", ".join(entry.tags),
        )
    console.print(table)


def _key_values(title: str, rows: list[tuple[str, Any]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else _number(value))
    return table


def _health_table(meta: dict[str, Any]):
    from rich.table import Table

    health = meta.get("codebook_health") or {}
    train = {row.get("level"): row for row in health.get("levels") or [] if isinstance(row, dict)}
    val = {row.get("level"): row for row in health.get("validation") or [] if isinstance(row, dict)}
    if not train and not val:
        return None
    codebook = meta.get("codebook") or {}
    size = f" ({codebook['levels']} levels x {codebook['size']} codes)" if codebook else ""
    table = Table(title=f"Codebook health{size}", title_justify="left")
    for column in ("level", "utilization", "perplexity", "dead codes", "val utilization", "val perplexity"):
        table.add_column(column, justify="right")
    for level in sorted(set(train) | set(val), key=str):
        t, v = train.get(level, {}), val.get(level, {})
        table.add_row(
            str(level),
            _percent(t.get("utilization")),
            _number(t.get("perplexity")),
            _number(t.get("dead_codes")),
            _percent(v.get("utilization")),
            _number(v.get("perplexity")),
        )
    return table


def _in_component_order(sections: dict[str, Any]) -> list[tuple[str, Any]]:
    from distill.bundle.format import COMPONENTS

    rank = {name: index for index, name in enumerate(COMPONENTS)}
    return sorted(sections.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def _training_table(training: dict[str, Any]):
    from rich.table import Table

    table = Table(title="Training", title_justify="left")
    for column in ("component", "steps", "epochs", "tier", "run"):
        table.add_column(column, justify="right" if column in ("steps", "epochs") else "left")
    metrics = Table(title="Final metrics", title_justify="left")
    for column in ("component", "metric", "value"):
        metrics.add_column(column, justify="right" if column == "value" else "left")
    for component, stats in _in_component_order(training):
        if not isinstance(stats, dict):
            continue
        table.add_row(
            component,
            _number(stats.get("steps")),
            _number(stats.get("epochs")),
            stats.get("tier") or _NONE,
            stats.get("run") or _NONE,
        )
        for name, value in sorted((stats.get("final_metrics") or {}).items()):
            metrics.add_row(component, name, _number(value))
    return table, metrics


def _history_table(history: dict[str, Any]):
    """First, best (lowest) and last value of each logged metric, per component."""
    from rich.table import Table

    table = Table(title="Loss history (per epoch)", title_justify="left")
    for column in ("component", "metric", "epochs", "first", "min", "last"):
        table.add_column(column, justify="left" if column in ("component", "metric") else "right")
    for component, rows in _in_component_order(history):
        rows = [row for row in rows or [] if isinstance(row, dict)]
        names = sorted({key for row in rows for key in row if key not in ("epoch", "step")})
        for name in names:
            values = [row[name] for row in rows if isinstance(row.get(name), int | float)]
            if not values:
                continue
            table.add_row(
                component,
                name,
                str(len(values)),
                _number(values[0]),
                _number(min(values)),
                _number(values[-1]),
            )
    return table if table.row_count else None


def memorization_table(report: dict[str, Any]):
    verdict = (
        "[bold red]flagged: the prior may copy its training set[/]"
        if report.get("flagged")
        else "not flagged"
    )

    def mean_max(stem: str, show, unit: str = "") -> str:
        return f"{show(report.get(f'{stem}_mean'))} mean, {show(report.get(f'{stem}_max'))} max{unit}"

    ratio, threshold = _number(report.get("share_ratio")), _number(report.get("ratio_threshold"))
    rows = [
        ("verdict", verdict),
        ("window (columns)", report.get("window")),
        ("generated clips", report.get("n_generated")),
        ("held-out clips", report.get("n_heldout")),
        ("window share, generated", mean_max("generated_share", _percent)),
        ("window share, held-out", mean_max("heldout_share", _percent)),
        (
            "share ratio, generated / held-out",
            f"{ratio} (flagged above {threshold}x with a share above {_percent(report.get('min_share'))})",
        ),
        ("longest copied run, generated", mean_max("generated_run", _number, " columns")),
        ("longest copied run, held-out", mean_max("heldout_run", _number, " columns")),
        ("nearest-window similarity, generated", _percent(report.get("generated_similarity_mean"))),
        ("nearest-window similarity, held-out", _percent(report.get("heldout_similarity_mean"))),
        (
            "similarity ratio, generated / held-out",
            f"{_number(report.get('similarity_ratio'))} "
            f"(flagged above {_number(report.get('similarity_ratio_threshold'))}x)",
        ),
    ]
    return _key_values("Memorization (overlap with the training set)", rows)


def render_info(console, path: Path, manifest) -> None:
    """Everything in a model's manifest, as tables."""
    meta = manifest.metadata
    dataset = meta.get("dataset") or {}
    hashes = dataset.get("content_hashes") or []
    vocoder = meta.get("vocoder") or {}
    console.print(
        _key_values(
            f"Model {meta.get('name', path.stem)}",
            [
                ("id", meta.get("id") or _NONE),
                ("file", f"{path} ({_size(path.stat().st_size)})"),
                ("created", meta.get("created") or _NONE),
                ("format", f"distillgan {manifest.format_version}"),
                ("made by", f"distill {meta.get('distill_version', '?')}"),
                ("components", ", ".join(manifest.components)),
                ("vocoder", _vocoder_text(vocoder.get("type"), vocoder.get("steps"))),
                ("tags", ", ".join(meta.get("tags") or []) or _NONE),
                ("VQ-VAE digest", meta.get("vqvae_digest") or _NONE),
            ],
        )
    )
    console.print(
        _key_values(
            "Dataset",
            [
                ("tier", dataset.get("tier") or _NONE),
                (
                    "files",
                    f"{_number(dataset.get('file_count'))} usable, "
                    f"{_number(dataset.get('skipped_count'))} skipped",
                ),
                (
                    "split",
                    f"{len(dataset.get('train_files') or [])} training, "
                    f"{len(dataset.get('val_files') or [])} validation",
                ),
                ("duration", _duration(dataset.get("total_duration_s"))),
                ("folder", dataset.get("root") or _NONE),
                ("content hashes", f"{len(hashes)} files" + (f", first {hashes[0][:16]}" if hashes else "")),
            ],
        )
    )
    if (health := _health_table(meta)) is not None:
        console.print(health)
    for warning in meta.get("codebook_warnings") or []:
        console.print(f"[yellow]codebook warning:[/] {warning}")
    training, metrics = _training_table(meta.get("training") or {})
    console.print(training)
    if metrics.row_count:
        console.print(metrics)
    if (history := _history_table(meta.get("loss_history") or {})) is not None:
        console.print(history)
    if isinstance(meta.get("memorization"), dict):
        console.print(memorization_table(meta["memorization"]))
    elif "prior" in manifest.components:
        console.print("Memorization: not measured for this prior.")
    if vocoder.get("final_losses"):
        rows = [(name, value) for name, value in sorted(vocoder["final_losses"].items())]
        console.print(_key_values("Vocoder final losses", rows))


@models_app.command("info")
def info(
    model: str = typer.Argument(
        ..., help="Model name, id (or its first 6+ characters), or a .distillgan file."
    ),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Everything a model file records: dataset, codebook health, training, memorization, vocoder."""
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
    tag: list[str] = typer.Option([], "--tag", help="A tag to add (repeatable)."),
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
    typer.echo(f"{entry.name}: tags {', '.join(entry.tags) or _NONE}")


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
    vocoder: Path = typer.Option(None, "--vocoder", help="HiFi-GAN vocoder run."),
    name: str = typer.Option(..., "--name", help="Model name in the library."),
    tag: list[str] = typer.Option([], "--tag", help="A tag (repeatable)."),
    library: Path = typer.Option(None, "--library", help=_LIBRARY_HELP),
    output: Path = typer.Option(
        None, "--output", help="Write the .distillgan file here instead of adding it to the library."
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
