"""What a training run logged, metric by metric over its steps: from its CSV logs, or from the
per-epoch ``loss_history`` a run summary and a model file keep.

A run's CSV logs are ``<run>/csv/<launch>/metrics.csv``, one folder per launch (a resume adds
one; the folders are named by their start time, so sorted names are oldest first). They are read
in that order and a later launch's value wins for the same metric and step: a resume that
continues from an earlier checkpoint logs those steps again.
"""

from __future__ import annotations

import bisect
import csv
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Columns of Lightning's CSV rows that say where a row is, not what was measured.
_POSITION = ("step", "epoch")


@dataclass(frozen=True)
class Series:
    """One metric over training: parallel tuples, in step order."""

    name: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class MetricHistory:
    """Every metric's value at every step it was logged, and the epoch each step belongs to."""

    points: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> step -> value
    epochs: dict[int, int] = field(default_factory=dict)  # step -> epoch, where a row said

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> MetricHistory:
        """Rows of ``{"step", "epoch"?, metric: value}`` in the order they were written."""
        points: dict[str, dict[int, float]] = {}
        epochs: dict[int, int] = {}
        for row in rows:
            step = _number(row.get("step"))
            if step is None:
                continue
            step = int(step)
            epoch = _number(row.get("epoch"))
            if epoch is not None:
                epochs[step] = int(epoch)
            for name, raw in row.items():
                value = _number(raw)
                if name not in _POSITION and value is not None:
                    points.setdefault(name, {})[step] = value  # a later row wins
        return cls(points=points, epochs=epochs)

    def __bool__(self) -> bool:
        return bool(self.points)

    def names(self) -> list[str]:
        return sorted(self.points)

    def series(self, name: str) -> Series:
        steps = sorted(self.points.get(name, {}))
        return Series(name, tuple(steps), tuple(self.points[name][step] for step in steps) if steps else ())

    def epoch_of(self, step: int) -> int | None:
        """The epoch of ``step``: as its row said, else that of the closest earlier step that has
        one (metrics sent straight to the loggers, like codebook health and learning rates, carry
        no epoch)."""
        if step in self.epochs:
            return self.epochs[step]
        known = sorted(self.epochs)
        if not known:
            return None
        index = bisect.bisect_right(known, step) - 1
        return self.epochs[known[max(index, 0)]]

    def per_epoch(self, name: str) -> dict[int, float]:
        """Mean of the metric's values within each epoch (one value for a per-epoch metric)."""
        grouped: dict[int, list[float]] = {}
        for step, value in self.points.get(name, {}).items():
            epoch = self.epoch_of(step)
            if epoch is not None:
                grouped.setdefault(epoch, []).append(value)
        return {epoch: statistics.fmean(values) for epoch, values in sorted(grouped.items())}

    def best_step(self, monitor: str, mode: str, *, from_step: int = 0) -> int | None:
        """The step where ``monitor`` was best (``mode`` "min" or "max") from ``from_step`` on:
        ModelCheckpoint's rule (``BestCheckpoint`` ranks only from the phase the run is for)."""
        values = {step: value for step, value in self.points.get(monitor, {}).items() if step >= from_step}
        if not values:
            return None
        pick = min if mode == "min" else max
        return pick(sorted(values), key=lambda step: values[step])


def read_csv_history(run_dir: Path | str) -> MetricHistory:
    """Every launch's ``metrics.csv`` of the run, oldest first (empty if it logged no CSV)."""
    rows: list[dict[str, str]] = []
    for path in sorted(Path(run_dir).glob("csv/*/metrics.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    return MetricHistory.from_rows(rows)


@dataclass(frozen=True)
class Gap:
    """val/X - train/X per epoch, for one measure both splits log."""

    measure: str  # X
    epochs: tuple[int, ...]
    values: tuple[float, ...]

    def grew(self, last: int) -> bool:
        """Rose epoch on epoch over the last ``last`` epochs, ending with val worse than train."""
        tail = self.values[-last:]
        return len(tail) == last and all(b > a for a, b in zip(tail, tail[1:], strict=False)) and tail[-1] > 0


def loss_alias(history: MetricHistory) -> str | None:
    """The validation metric ``val/loss`` equals at every step, if any: a vocoder's val/loss is its
    val/mstft, while its train/loss is a weighted sum with adversarial terms, so the two losses
    measure different things and are compared under the measure's own name instead."""
    mine = history.points.get("val/loss")
    if not mine:
        return None
    for other in history.names():
        theirs = history.points[other]
        if (
            other != "val/loss"
            and other.startswith("val/")
            and theirs.keys() == mine.keys()
            and all(math.isclose(mine[step], theirs[step]) for step in mine)
        ):
            return other
    return None


def overfitting_gaps(history: MetricHistory) -> list[Gap]:
    """The val - train gap of every measure logged under both ``train/`` and ``val/`` (``loss``
    only where ``val/loss`` is a loss of its own, see :func:`loss_alias`)."""
    skip = "val/loss" if loss_alias(history) else None
    gaps = []
    for name in history.names():
        measure = name.removeprefix("val/")
        train_name = f"train/{measure}"
        if not name.startswith("val/") or name == skip or train_name not in history.points:
            continue
        val, train = history.per_epoch(name), history.per_epoch(train_name)
        epochs = tuple(epoch for epoch in val if epoch in train)
        if epochs:
            gaps.append(Gap(measure, epochs, tuple(val[e] - train[e] for e in epochs)))
    return gaps


def _number(raw: Any) -> float | None:
    """A finite float from a CSV cell or a JSON value; None for empty, text or NaN."""
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
