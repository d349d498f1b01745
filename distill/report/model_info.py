"""How a model's manifest reads, table by table: ``distill models info`` in the terminal and the
studio's Library panel (a recording console turned into HTML) print the same ``render_info``
(the tables the report page shares are built in ``distill.report.tables``).

Reads manifest metadata only (no torch import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill.audio.control_space import ControlSpace
from distill.report.tables import (
    HEALTH_HEADERS,
    NONE,
    duration_text,
    evaluation_lines,
    evaluation_tables,
    health_rows,
    key_values,
    memorization_table,
    number_text,
    quality_text,
    vocoder_name,
    vocoder_text,
)


def _health_table(meta: dict[str, Any]):
    from rich.table import Table

    health = meta.get("codebook_health") or {}
    rows = health_rows(health.get("levels") or [], health.get("validation") or [])
    if not rows:
        return None
    codebook = meta.get("codebook") or {}
    size = f" ({codebook['levels']} levels x {codebook['size']} codes)" if codebook else ""
    table = Table(title=f"Codebook health{size}", title_justify="left")
    for column in HEALTH_HEADERS:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
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
            number_text(stats.get("steps")),
            number_text(stats.get("epochs")),
            stats.get("tier") or NONE,
            stats.get("run") or NONE,
        )
        for name, value in sorted((stats.get("final_metrics") or {}).items()):
            metrics.add_row(component, name, number_text(value))
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
                number_text(values[0]),
                number_text(min(values)),
                number_text(values[-1]),
            )
    return table if table.row_count else None


def render_info(console, path: Path, manifest) -> None:
    """Everything in a model's manifest, as tables, ending with its generation quality."""
    meta = manifest.metadata
    dataset = meta.get("dataset") or {}
    hashes = dataset.get("content_hashes") or []
    vocoder = meta.get("vocoder") or {}
    console.print(
        key_values(
            f"Model {meta.get('name', path.stem)}",
            [
                ("id", meta.get("id") or NONE),
                ("file", f"{path} ({_size(path.stat().st_size)})"),
                ("created", meta.get("created") or NONE),
                ("format", f"distillgan {manifest.format_version}"),
                ("made by", f"distill {meta.get('distill_version', '?')}"),
                ("components", ", ".join(manifest.components)),
                (
                    "vocoder",
                    vocoder_text(
                        vocoder.get("type"), vocoder.get("steps"), (vocoder.get("quality") or {}).get("mstft")
                    ),
                ),
                ("tags", ", ".join(meta.get("tags") or []) or NONE),
                ("VQ-VAE digest", meta.get("vqvae_digest") or NONE),
            ],
        )
    )
    console.print(
        key_values(
            "Dataset",
            [
                ("tier", dataset.get("tier") or NONE),
                (
                    "files",
                    f"{number_text(dataset.get('file_count'))} usable, "
                    f"{number_text(dataset.get('skipped_count'))} skipped",
                ),
                (
                    "split",
                    f"{len(dataset.get('train_files') or [])} training, "
                    f"{len(dataset.get('val_files') or [])} validation",
                ),
                ("duration", duration_text(dataset.get("total_duration_s"))),
                ("folder", dataset.get("root") or NONE),
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
    if (sounds := meta.get("sounds")) and isinstance(sounds, dict):
        rows = [
            ("default mode", sounds.get("default_mode") or NONE),
            (
                "file lengths",
                f"median {number_text(sounds.get('median_s'))} s, "
                f"{number_text(sounds.get('min_s'))}-{number_text(sounds.get('max_s'))} s",
            ),
            ("one-shots end", f"{number_text(sounds.get('tail_drop'))} nats below their peak"),
        ]
        if isinstance(sounds.get("single_events"), int | float):
            rows.append(("files of one event", f"{100 * sounds['single_events']:.0f} %"))
        if sounds.get("rise") is not None:
            rows.append(("a second sound", f"after a dip and return of {number_text(sounds['rise'])} nats"))
        console.print(key_values("Sounds (the collection, as the prior's data measured it)", rows))
    if (space := ControlSpace.from_dict(meta.get("controls"))) is not None:
        rows = [(f"--{name}", f"0..1 = {space.describe_range(name)}") for name in space.ranges]
        console.print(
            key_values("Controls (distill generate ... --NAME 0..1 or a value with its unit)", rows)
        )
    if isinstance(meta.get("memorization"), dict):
        console.print(memorization_table(meta["memorization"]))
    elif "prior" in manifest.components:
        console.print("Memorization: not measured for this prior.")
    if vocoder:
        rows = [
            ("kind", vocoder_name(vocoder.get("type"))),
            ("generator updates", number_text(vocoder.get("steps"))),
            ("renders", "RVQ-VAE reconstructions" if vocoder.get("vqvae_run") else "real mels"),
            ("held-out quality", quality_text(vocoder.get("quality"))),
            ("BigVGAN, same files", quality_text(vocoder.get("bigvgan_quality"))),
        ]
        rows += [(name, value) for name, value in sorted((vocoder.get("final_losses") or {}).items())]
        console.print(key_values("Vocoder (lower is better)", rows))
    evaluation = meta.get("evaluation")
    if isinstance(evaluation, dict):
        for table in evaluation_tables(evaluation):
            console.print(table)
        for line in evaluation_lines(evaluation):
            console.print(line)
    else:
        console.print("Generation quality: not evaluated yet (distill evaluate MODEL).")
