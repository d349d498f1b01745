"""The report's figures, as PNG bytes: the page embeds them and W&B logs the very same images.

Each figure is drawn on a ``Figure`` of its own with matplotlib's Agg canvas (no pyplot state, no
display), like ``distill.codes.plot``, whose mel + code-grid picture the sounds reuse.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Any

from distill.report.data import ComponentTraining
from distill.report.history import MetricHistory, Series, loss_alias
from distill.report.sounds import SoundClip

_CODEBOOK = re.compile(r"^codebook/(?P<split>train|val)/level(?P<level>\d+)/(?P<stat>\w+)$")
_LEVEL_NLL = re.compile(r"^val/nll_level(?P<level>\d+)$")
_CODEBOOK_STATS = (
    ("utilization", "utilization (share of codes used)"),
    ("perplexity", "perplexity"),
    ("dead_codes", "dead codes"),
)
TRAIN_COLOR, VAL_COLOR, BEST_COLOR = "#1f77b4", "#d62728", "#2ca02c"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    # No metadata: the same run gives byte-identical images, so a page can be compared with another.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _mark_best(axis, training: ComponentTraining) -> None:
    if training.best_step is not None:
        axis.axvline(
            training.best_step, color=BEST_COLOR, linestyle="--", linewidth=1.2, label=training.best_label
        )


def loss_figure(training: ComponentTraining):
    """One panel per measure (``train/X`` and ``val/X`` together), the best step marked; the
    prior's per-level NLL has a figure of its own. None when nothing was logged."""
    history = training.history
    measures = sorted(
        {
            name.split("/", 1)[1]
            for name in history.names()
            if name.startswith(("train/", "val/")) and not _LEVEL_NLL.match(name)
        }
    )
    if not measures:
        return None
    columns = min(3, len(measures))
    rows = -(-len(measures) // columns)
    figure = _figure(11.0, 2.6 * rows + 0.4)
    figure.suptitle(f"{training.component}: training and validation losses")
    for index, measure in enumerate(measures):
        axis = figure.add_subplot(rows, columns, index + 1)
        train, val = history.series(f"train/{measure}"), history.series(f"val/{measure}")
        title = measure
        if measure == "loss" and (alias := loss_alias(history)):
            # Not drawn against a training loss that measures something else (see loss_alias).
            val, title = Series(val.name, (), ()), f"loss (validation: see {alias.removeprefix('val/')})"
        if train.steps:
            style = (
                dict(marker="o", markersize=3) if training.per_epoch_only else dict(linewidth=0.9, alpha=0.85)
            )
            axis.plot(train.steps, train.values, color=TRAIN_COLOR, label="training", **style)
        if val.steps:
            axis.plot(val.steps, val.values, color=VAL_COLOR, marker="o", markersize=3.5, label="validation")
        _mark_best(axis, training)
        axis.set_title(title, fontsize="medium", loc="left")
        axis.set_xlabel("step", fontsize="small")
        axis.grid(alpha=0.3)
        if index == 0:
            axis.legend(fontsize="x-small")
    return figure


def codebook_figure(history: MetricHistory):
    """Utilization, perplexity and dead codes of each RVQ level over training; training windows
    as lines, whole validation passes as points. None for a run that logged no codebook health."""
    found: dict[tuple[str, str, int], str] = {}
    for name in history.names():
        if match := _CODEBOOK.match(name):
            found[(match["stat"], match["split"], int(match["level"]))] = name
    if not found:
        return None
    levels = sorted({level for _, _, level in found})
    colors = _level_colors(len(levels))
    figure = _figure(11.0, 3.2)
    splits = {split for _, split, _ in found}
    # A model file keeps the validation health per epoch only; a run's CSV has the training windows too.
    figure.suptitle(
        "Codebook health over training (solid: training steps, dots: validation set)"
        if splits == {"train", "val"}
        else f"Codebook health over training ({'validation set, per epoch' if splits == {'val'} else 'training steps'})"
    )
    for index, (stat, label) in enumerate(_CODEBOOK_STATS):
        axis = figure.add_subplot(1, 3, index + 1)
        for level, color in zip(levels, colors, strict=True):
            for split in ("train", "val"):
                name = found.get((stat, split, level))
                if name is None:
                    continue
                series = history.series(name)
                style = (
                    dict(linewidth=1.0)
                    if split == "train"
                    else dict(linestyle=":", marker="o", markersize=3.5)
                )
                axis.plot(series.steps, series.values, color=color, label=f"level {level} {split}", **style)
        axis.set_title(label, fontsize="medium", loc="left")
        axis.set_xlabel("step", fontsize="small")
        axis.grid(alpha=0.3)
        if stat == "utilization":
            axis.set_ylim(0.0, 1.05)
        if index == 0:
            axis.legend(fontsize="x-small", ncol=2)
    return figure


def nll_figure(training: ComponentTraining):
    """The prior's validation NLL per RVQ level (nats per token): coarse level 0 is the hard one,
    and a level that stays near log(codebook size) learns nothing. None without per-level NLL."""
    history = training.history
    levels = sorted(int(m["level"]) for name in history.names() if (m := _LEVEL_NLL.match(name)))
    if not levels:
        return None
    figure = _figure(11.0, 3.2)
    axis = figure.add_subplot(1, 1, 1)
    for level, color in zip(levels, _level_colors(len(levels)), strict=True):
        series = history.series(f"val/nll_level{level}")
        axis.plot(
            series.steps, series.values, color=color, marker="o", markersize=3.5, label=f"level {level}"
        )
    overall = history.series("val/loss")
    if overall.steps:
        axis.plot(
            overall.steps, overall.values, color="black", linestyle="--", linewidth=1.0, label="all levels"
        )
    _mark_best(axis, training)
    axis.set_title("prior: validation NLL per RVQ level (nats per token, lower is better)", loc="left")
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return figure


def memorization_figure(best: dict[str, Any] | None, last: dict[str, Any] | None):
    """Generated vs held-out overlap with the training codes, for the best and the final weights:
    generated bars far above the held-out baseline mean the prior replays its training files."""
    reports = [
        (label, report) for label, report in (("best weights", best), ("final weights", last)) if report
    ]
    if not reports:
        return None
    measures = (("share", "windows shared with training"), ("similarity", "nearest-window similarity"))
    figure = _figure(11.0, 3.0)
    figure.suptitle("Memorization check: generated vs held-out (the baseline), against the training codes")
    for index, (stem, label) in enumerate(measures):
        axis = figure.add_subplot(1, 2, index + 1)
        positions = range(len(reports))
        width = 0.38
        generated = [report.get(f"generated_{stem}_mean") or 0.0 for _, report in reports]
        heldout = [report.get(f"heldout_{stem}_mean") or 0.0 for _, report in reports]
        axis.bar([p - width / 2 for p in positions], generated, width, color=VAL_COLOR, label="generated")
        axis.bar([p + width / 2 for p in positions], heldout, width, color=TRAIN_COLOR, label="held-out")
        axis.set_xticks(list(positions), [name for name, _ in reports])
        axis.set_title(label, fontsize="medium", loc="left")
        axis.set_ylim(0.0, max(1.0, *generated, *heldout) * 1.05)
        axis.grid(alpha=0.3, axis="y")
        if index == 0:
            axis.legend(fontsize="small")
    return figure


def training_figures(
    training: list[ComponentTraining], memorization: dict | None, memorization_last: dict | None
) -> dict[str, bytes]:
    """Every training figure of a report, by name (the W&B media key is ``report/<name>``)."""
    figures: dict[str, Any] = {}
    for component in training:
        figures[f"losses_{component.component}"] = loss_figure(component)
        # Only the RVQ-VAE logs codebook health and only the prior per-level NLL; each figure is
        # None for a history without its metrics.
        figures["codebook_health"] = figures.get("codebook_health") or codebook_figure(component.history)
        figures["nll_per_level"] = figures.get("nll_per_level") or nll_figure(component)
    figures["memorization"] = memorization_figure(memorization, memorization_last)
    return {name: png_bytes(figure) for name, figure in figures.items() if figure is not None}


def sound_png(clip: SoundClip) -> bytes:
    """The clip's mel above its code grid (``distill.codes.plot.plot_generation``)."""
    from distill.codes.plot import plot_generation

    with tempfile.TemporaryDirectory() as folder:
        path = plot_generation(
            clip.mel,
            clip.codes,
            Path(folder) / "clip.png",
            frames_per_column=clip.frames_per_column,
            codebook_size=clip.codebook_size,
            title=clip.title,
        )
        return path.read_bytes()


def _level_colors(count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * index / max(count - 1, 1)) for index in range(count)]
