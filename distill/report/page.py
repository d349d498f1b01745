"""``ReportData`` -> one self-contained HTML page (jinja2 template, figures as base64 PNG, sounds
as base64 16-bit WAV players), written atomically.

The tables are the terminal's (``distill.report.tables``): a rich ``Table`` is read back as header
and cell text, so a number reads the same in ``distill models info``, ``distill evaluate`` and the
report.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.files import wav_bytes, write_text_atomic
from distill.report.data import CodebookSummary, ComponentTraining, ReportData
from distill.report.figures import sound_png, training_figures
from distill.report.history import overfitting_gaps
from distill.report.sounds import SoundClip
from distill.report.tables import (
    HEALTH_HEADERS,
    evaluation_lines,
    evaluation_tables,
    health_rows,
    memorization_table,
    number_text,
    quality_text,
    vocoder_name,
)

GAP_EPOCHS = 3  # a gap that rose over this many epochs in a row is called out


@dataclass(frozen=True)
class HtmlTable:
    title: str
    headers: list[str]
    rows: list[list[str]]


def rich_table(table) -> HtmlTable:
    """A rich ``Table``'s title, headers and cells as plain text (markup removed)."""
    from rich.text import Text

    def plain(cell: Any) -> str:
        return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain

    columns = [[plain(cell) for cell in column.cells] for column in table.columns]
    headers = [plain(column.header) for column in table.columns] if table.show_header else []
    return HtmlTable(plain(table.title or ""), headers, [list(row) for row in zip(*columns, strict=True)])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wav_base64(samples: np.ndarray, sample_rate: int) -> str:
    """16-bit PCM WAV, for an ``<audio>`` player's data URL (``wav_bytes``: never clipped)."""
    return _b64(wav_bytes(samples, sample_rate, subtype="PCM_16"))


def gap_sentence(training: ComponentTraining) -> str:
    """The overfitting gap (val - train) in words: called out where it grew over the last epochs."""
    gaps = overfitting_gaps(training.history)
    if not gaps:
        return "No measure is logged under both train/ and val/, so there is no overfitting gap to show."
    epochs = max(len(gap.epochs) for gap in gaps)
    if epochs < GAP_EPOCHS:
        return (
            f"Only {epochs} epoch(s) have both training and validation values: too few to tell whether the"
            " overfitting gap (val - train) grows."
        )
    grown = [gap for gap in gaps if gap.grew(GAP_EPOCHS)]
    if not grown:
        ends = ", ".join(f"{gap.measure} {gap.values[-1]:+.3g}" for gap in gaps)
        return f"The overfitting gap (val - train) did not grow over the last {GAP_EPOCHS} epochs (at the end: {ends})."
    parts = [
        f"val - train {gap.measure} grew over the last {GAP_EPOCHS} epochs ("
        + " → ".join(f"{value:.3g}" for value in gap.values[-GAP_EPOCHS:])
        + ")"
        for gap in grown
    ]
    best = (
        f" The {training.best_label} is at step {training.best_step}."
        if training.best_step is not None
        else ""
    )
    return (
        f"Overfitting: {'; '.join(parts)}. The model fits its training files ever better than the held-out"
        f" ones: more data, more augmentation or a shorter run would help.{best}"
    )


def codebook_table(codebook: CodebookSummary) -> HtmlTable:
    size = codebook.size or {}
    title = (
        f"Codebook health at the end ({size['levels']} levels x {size['size']} codes)"
        if size
        else "Codebook health at the end"
    )
    return HtmlTable(title, list(HEALTH_HEADERS), health_rows(codebook.train, codebook.val))


def memorization_tables(best: dict | None, last: dict | None) -> HtmlTable | None:
    """The memorization table of ``distill memorization``, one column per checked set of weights."""
    reports = [
        (label, report) for label, report in (("best weights", best), ("final weights", last)) if report
    ]
    if not reports:
        return None
    tables = [rich_table(memorization_table(report)) for _, report in reports]
    rows = [[row[0], *(table.rows[index][1] for table in tables)] for index, row in enumerate(tables[0].rows)]
    return HtmlTable(tables[0].title, ["", *(label for label, _ in reports)], rows)


def vocoder_table(vocoder: dict) -> HtmlTable:
    # A model file records "steps"; a run summary the same count as "generator_updates".
    steps = vocoder.get("steps", vocoder.get("generator_updates"))
    rows = [
        ["kind", vocoder_name(vocoder.get("type"))],
        ["generator updates", number_text(steps)],
        ["own vocoder on held-out files", quality_text(vocoder.get("quality"))],
    ]
    if "bigvgan_quality" in vocoder:
        rows.append(["BigVGAN on the same files", quality_text(vocoder.get("bigvgan_quality"))])
    return HtmlTable("Vocoder quality (lower is better)", [], rows)


def _clip_view(clip: SoundClip) -> dict[str, Any]:
    return {
        "title": clip.title,
        "caption": clip.caption,
        "image": _b64(sound_png(clip)),
        "audio": None if clip.audio is None else wav_base64(clip.audio, clip.sample_rate),
        "original": None if clip.original is None else wav_base64(clip.original, clip.sample_rate),
    }


def page_context(data: ReportData) -> dict[str, Any]:
    """What the template shows, every figure and sound encoded."""
    figures = {
        name: _b64(png)
        for name, png in training_figures(data.training, data.memorization, data.memorization_last).items()
    }
    return {
        "data": data,
        "training": [
            {
                "component": component.component,
                "image": figures.get(f"losses_{component.component}"),
                "gap": gap_sentence(component),
            }
            for component in data.training
        ],
        "codebook_image": figures.get("codebook_health"),
        "codebook_table": codebook_table(data.codebook)
        if data.codebook and (data.codebook.train or data.codebook.val)
        else None,
        "nll_image": figures.get("nll_per_level"),
        "memorization_image": figures.get("memorization"),
        "memorization_table": memorization_tables(data.memorization, data.memorization_last),
        "vocoder_table": vocoder_table(data.vocoder) if data.vocoder else None,
        "evaluation_tables": [rich_table(table) for table in evaluation_tables(data.evaluation)]
        if data.evaluation
        else [],
        "evaluation_lines": evaluation_lines(data.evaluation) if data.evaluation else [],
        "generated": [_clip_view(clip) for clip in data.generated],
        "reconstructions": [_clip_view(clip) for clip in data.reconstructions],
    }


def render_page(data: ReportData) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("distill.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,  # a misspelt name in the template fails instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(**page_context(data))


def write_page(data: ReportData, output: Path) -> Path:
    return write_text_atomic(output, render_page(data))
