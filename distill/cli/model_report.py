"""How a model's manifest reads in the terminal: the tables of ``distill models list/info``.

Reads manifest metadata only (no torch import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# What a person reads for each recorded vocoder kind (a kind not listed shows as recorded).
VOCODER_NAMES = {"vocos": "Vocos", "hifigan": "HiFi-GAN V2", "bigvgan": "BigVGAN"}
NONE = "—"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent_text(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else NONE


def number_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return NONE if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def vocoder_text(vocoder_type: str | None, steps: int | None, mstft: float | None = None) -> str:
    """E.g. ``Vocos (3000 steps, M-STFT 1.42)``: kind, training and held-out quality."""
    if vocoder_type is None:
        return NONE
    label = VOCODER_NAMES.get(vocoder_type, vocoder_type)
    facts = [f"{steps} steps"] if steps is not None else []
    if isinstance(mstft, int | float):
        facts.append(f"M-STFT {mstft:.2f}")
    return f"{label} ({', '.join(facts)})" if facts else label


def quality_text(quality: Any) -> str:
    if not isinstance(quality, dict) or not isinstance(quality.get("mstft"), int | float):
        return "not measured"
    return (
        f"M-STFT {quality['mstft']:.3f}, mel L1 {number_text(quality.get('mel_l1'))}"
        f" on {number_text(quality.get('files'))} held-out files"
    )


def _key_values(title: str, rows: list[tuple[str, Any]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else number_text(value))
    return table


HEALTH_HEADERS = (
    "level",
    "utilization",
    "perplexity",
    "dead codes",
    "val utilization",
    "val perplexity",
    "val dead codes",
)


def health_rows(train_rows: list, val_rows: list) -> list[list[str]]:
    """One row of text per level (``HEALTH_HEADERS``) from the end-of-training health rows of the
    training epoch and of the held-out files; the CLI and the report page show the same table."""
    train = {row.get("level"): row for row in train_rows if isinstance(row, dict)}
    val = {row.get("level"): row for row in val_rows if isinstance(row, dict)}
    rows = []
    for level in sorted(set(train) | set(val), key=str):
        t, v = train.get(level, {}), val.get(level, {})
        rows.append(
            [
                str(level),
                percent_text(t.get("utilization")),
                number_text(t.get("perplexity")),
                number_text(t.get("dead_codes")),
                percent_text(v.get("utilization")),
                number_text(v.get("perplexity")),
                number_text(v.get("dead_codes")),
            ]
        )
    return rows


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


def memorization_table(report: dict[str, Any]):
    verdict = (
        "[bold red]flagged: the prior may copy its training set[/]"
        if report.get("flagged")
        else "not flagged"
    )

    def mean_max(stem: str, show, unit: str = "") -> str:
        return f"{show(report.get(f'{stem}_mean'))} mean, {show(report.get(f'{stem}_max'))} max{unit}"

    ratio, threshold = number_text(report.get("share_ratio")), number_text(report.get("ratio_threshold"))
    rows = [
        ("verdict", verdict),
        ("window (columns)", report.get("window")),
        ("generated clips", report.get("n_generated")),
        ("held-out clips", report.get("n_heldout")),
        ("window share, generated", mean_max("generated_share", percent_text)),
        ("window share, held-out", mean_max("heldout_share", percent_text)),
        (
            "share ratio, generated / held-out",
            f"{ratio} (flagged above {threshold}x with a share above {percent_text(report.get('min_share'))})",
        ),
        ("longest copied run, generated", mean_max("generated_run", number_text, " columns")),
        ("longest copied run, held-out", mean_max("heldout_run", number_text, " columns")),
        ("nearest-window similarity, generated", percent_text(report.get("generated_similarity_mean"))),
        ("nearest-window similarity, held-out", percent_text(report.get("heldout_similarity_mean"))),
        (
            "similarity ratio, generated / held-out",
            f"{number_text(report.get('similarity_ratio'))} "
            f"(flagged above {number_text(report.get('similarity_ratio_threshold'))}x)",
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
        _key_values(
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
        if sounds.get("rise") is not None:
            rows.append(("a second sound", f"after a dip and return of {number_text(sounds['rise'])} nats"))
        console.print(_key_values("Sounds (the collection, as the prior's data measured it)", rows))
    if isinstance(meta.get("memorization"), dict):
        console.print(memorization_table(meta["memorization"]))
    elif "prior" in manifest.components:
        console.print("Memorization: not measured for this prior.")
    if vocoder:
        rows = [
            ("kind", VOCODER_NAMES.get(vocoder.get("type"), vocoder.get("type") or NONE)),
            ("generator updates", number_text(vocoder.get("steps"))),
            ("renders", "RVQ-VAE reconstructions" if vocoder.get("vqvae_run") else "real mels"),
            ("held-out quality", quality_text(vocoder.get("quality"))),
            ("BigVGAN, same files", quality_text(vocoder.get("bigvgan_quality"))),
        ]
        rows += [(name, value) for name, value in sorted((vocoder.get("final_losses") or {}).items())]
        console.print(_key_values("Vocoder (lower is better)", rows))
