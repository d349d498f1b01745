"""How loud a mel is over time, and what a collection's sounds look like: their lengths and how they end.

One-shot generation needs to know when a new sound is over. It samples column after column and
stops once the decoded mel has decayed the way the collection's own recordings decay: a few
consecutive columns ``tail_drop`` below the sound's loudest column (the median, over the training
files, of how far each one's last column sits below its loudest), or down at the level of silence.
Relative to the sound's own peak, so a soft hit ends as naturally as a loud one. A one-shot is
also over where a second sound begins: after falling ``rise`` below its peak, it rises ``rise``
again. ``rise`` is measured on the training files too (the largest such dip-and-return inside any
of them, plus a margin), so no recording of the collection would be cut by it: a drum hit allows
almost none, a two-syllable word its own.

Levels are in nats of mean mel magnitude: log(mean over bands of exp(mel)) per frame, the loudest
frame of a 16-frame column standing for the column (a column holding any audible part counts).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

# A collection whose median file is at most this long is one of separate sounds (hits, notes,
# one words): generation defaults to one-shots. Longer ones are too when most of their files are
# one event each (``is_single_event``: a piano's 15 s notes); the rest are textures, streams,
# phrases: continuous generation.
ONE_SHOT_MEDIAN_S = 4.0
# One event: its loudest column comes at most this many columns after its first within 20 dB of
# it (a struck or plucked attack, not a swell or a phrase's later stress).
ATTACK_COLUMNS = 2
# How far a tail may be below the peak, whatever the collection says: at least 20 dB (an abruptly
# cut file says little) and at most 60 dB (past that a generation would run on through noise).
MIN_TAIL_DROP = math.log(10.0)
MAX_TAIL_DROP = math.log(1000.0)
# Quiet columns in a row (186 ms each) that end a one-shot: one could be a gap inside a sound.
QUIET_COLUMNS = 2
# Decoded silence is not exactly the mel floor; levels this close above it are silence too.
SILENCE_MARGIN = 0.1
# A second onset must dip and return by at least ~9 dB (level noise of a decaying tail stays well
# below) and need not by more than 40 dB; the collection's own largest, plus a margin, in between.
MIN_RISE = 1.0
MAX_RISE = math.log(100.0)
RISE_MARGIN = 0.5


def frame_levels(mel: torch.Tensor) -> torch.Tensor:
    """mel [n_mels, F] (natural-log magnitudes) -> level of each frame [F] in nats."""
    return torch.logsumexp(mel.float(), dim=0) - math.log(mel.shape[0])


def column_levels(mel: torch.Tensor, frames_per_column: int) -> torch.Tensor:
    """mel [n_mels, F] -> level of each code-grid column [ceil(F / frames_per_column)] (its loudest frame)."""
    levels = frame_levels(mel)
    pad = -len(levels) % frames_per_column
    if pad:
        levels = torch.cat([levels, levels.new_full((pad,), float("-inf"))])
    return levels.view(-1, frames_per_column).amax(dim=1)


@dataclass(frozen=True, kw_only=True)
class CollectionShape:
    """How long the collection's recordings are and how they end; recorded when the prior trains."""

    files: int
    median_s: float
    min_s: float
    max_s: float
    tail_drop: float  # nats: median over files of (loudest column - last column), clamped (see above)
    silence_level: float  # nats: the level of silence as the RVQ-VAE decodes it
    rise: float | None = None  # nats: a dip and return this deep is a second sound; None: never (older files)
    single_events: float | None = None  # share of the files that are one event each; None: older files

    @property
    def default_mode(self) -> str:
        separate = self.median_s <= ONE_SHOT_MEDIAN_S or (self.single_events or 0.0) >= 0.5
        return "one-shot" if separate else "continuous"

    @classmethod
    def measure(
        cls,
        durations_s: Sequence[float],
        column_levels_per_file: Sequence[torch.Tensor],
        silence_level: float,
    ) -> CollectionShape:
        """From each training file's duration and the column levels of its decoded code grid
        (its own columns only, not the silence padded after it)."""
        if not durations_s:
            raise ValueError("a collection shape needs at least one file")
        drops = [float(levels.max() - levels[-1]) for levels in column_levels_per_file if len(levels)]
        drop = statistics.median(drops) if drops else MAX_TAIL_DROP
        rise = max((_largest_return(levels) for levels in column_levels_per_file), default=0.0)
        singles = [is_single_event(levels) for levels in column_levels_per_file if len(levels)]
        return cls(
            files=len(durations_s),
            median_s=round(statistics.median(durations_s), 3),
            min_s=round(min(durations_s), 3),
            max_s=round(max(durations_s), 3),
            tail_drop=round(min(max(drop, MIN_TAIL_DROP), MAX_TAIL_DROP), 3),
            silence_level=round(silence_level, 3),
            rise=round(min(max(rise + RISE_MARGIN, MIN_RISE), MAX_RISE), 3),
            single_events=round(sum(singles) / len(singles), 3) if singles else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "default_mode": self.default_mode}

    @classmethod
    def from_dict(cls, data: Any) -> CollectionShape | None:
        """The shape recorded in a run summary or model file, or None when absent or malformed."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                files=int(data["files"]),
                median_s=float(data["median_s"]),
                min_s=float(data["min_s"]),
                max_s=float(data["max_s"]),
                tail_drop=float(data["tail_drop"]),
                silence_level=float(data["silence_level"]),
                rise=None if data.get("rise") is None else float(data["rise"]),
                single_events=None if data.get("single_events") is None else float(data["single_events"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def is_silent(self, level: float) -> bool:
        """Whether a column at ``level`` (nats) is silence as the RVQ-VAE decodes it."""
        return level <= self.silence_level + SILENCE_MARGIN

    def ended_at(self, levels: torch.Tensor) -> int | None:
        """The last column that belongs to the sound, or None while it goes on. levels: [C] column
        levels of the sound so far. It has ended at the first column of its first run of
        ``QUIET_COLUMNS`` quiet columns (that column kept as its tail), or just before a second
        sound begins (see the module docstring)."""
        peak = trough = float("-inf")
        quiet_run = 0
        for index, level in enumerate(levels.tolist()):
            if self.is_silent(peak):  # nothing has sounded yet
                peak = trough = level
                continue
            trough = min(trough, level)
            if self.rise is not None and peak - trough >= self.rise and level - trough >= self.rise:
                return index - 1
            if level > peak:
                peak = trough = level
            quiet = level <= peak - self.tail_drop or self.is_silent(level)
            quiet_run = quiet_run + 1 if quiet else 0
            if quiet_run == QUIET_COLUMNS:
                return index - QUIET_COLUMNS + 1
        return None


def is_single_event(levels: torch.Tensor) -> bool:
    """Whether column levels [C] are one struck or plucked sound: loudest within ``ATTACK_COLUMNS``
    of its onset (its first column within 20 dB of the peak), at least 20 dB down by its end, and no
    dip-and-return of ``MIN_RISE`` (a second event) on the way."""
    peak = float(levels.max())
    onset = int((levels >= peak - MIN_TAIL_DROP).nonzero()[0])
    return (
        int(levels.argmax()) - onset <= ATTACK_COLUMNS
        and peak - float(levels[-1]) >= MIN_TAIL_DROP
        and _largest_return(levels) < MIN_RISE
    )


def _largest_return(levels: torch.Tensor) -> float:
    """The deepest dip below a peak that the level then climbs back out of, in nats: the smaller
    of the fall and the return, maximised over the sound (0 for a plain decay)."""
    largest, peak, trough = 0.0, float("-inf"), float("inf")
    for level in levels.tolist():
        if level > peak:
            largest = max(largest, min(peak - trough, level - trough))
            peak = trough = level
            continue
        trough = min(trough, level)
        largest = max(largest, min(peak - trough, level - trough))
    return largest
