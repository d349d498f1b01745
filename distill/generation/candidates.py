"""Controls that follow: a request is drawn several times, each draw is measured the way the
training takes were, and the one nearest the request is kept; a note asked for is then tuned.

Why a choice: the prior learns what a request means only from the first column of the windows
that begin a sound, a few percent of its tokens. Within minutes of CPU it therefore follows a
request weakly (on a drum kit, Spearman's rho between asked and measured was about 0 as learned
and 0.4-0.7 with guidance 4; ``experiments/control_sweep.py``). Measuring what came out with the
same descriptors (``distill.audio.descriptors``) turns the request into a choice among what the
prior makes for it: as good as the prior's spread for that request, never a sound it would not
make. The draws run as one batch of the prior (``distill.codes.sampling.sample_batch``), so N of
them cost much less than N sounds one after another.

A note asked for is rendered by the decoder (``decoder_pitch_hz``, the default tuning): the kept
draw's codes decoded with that note's harmonic pattern in place of the pitch they carry
(``PitchPrediction.pattern_at``), so its envelope, length and noise stay and its partials sit on
the key. Few of a prior's draws hold a stable pitch (on a 26-note piano, 5 of 16), and the note
they hold is mostly a recorded key, often more than a major third from the one asked. On that
piano's 13 keys from C2 to C7 (``experiments/control_sweep.py --notes``), rendered so 8 measure
their key to 15 cents, tuned by rate 6; by rate D6 stays F#5, rendered it is D6.

Or (``tuning="rate"``, and for a note the decoder does not reach) it is tuned the way a sampler
plays a key from a neighbouring recording: played faster or slower
(``distill.audio.augment.play_at_rate``) by the difference between the note asked and the note
measured, at most ``MAX_RETUNE_SEMITONES`` (the pitched collection's training takes were changed in
rate the same way, by less). A draw further off is a different note and is left as
drawn: the choice prefers, among the draws, the one nearest the key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from distill.audio.augment import play_at_rate
from distill.audio.control_space import DESCRIPTORS, ControlSpace, format_value, midi_to_hz
from distill.audio.descriptors import describe
from distill.audio.mel import MelConfig

# A major third: a sparsely multisampled instrument stretches a recording that far. A prior
# draws mostly the recorded keys (a piano sampled every 3 semitones: its draws sat on them), so a
# key between them needs up to half the spacing, and the next recorded key over is often the one drawn.
MAX_RETUNE_SEMITONES = 4.0
# What an asked control adds to a draw's distance when the draw has no value for it (no stable
# pitch): as much as missing by the collection's whole range.
UNMEASURED = 1.0
PITCH = DESCRIPTORS.index("pitch")


@dataclass(frozen=True)
class Choice:
    """Which draw was kept, what it measured and how it was tuned (recorded in the sidecar)."""

    index: int  # of the draws, in batch order
    draws: int
    descriptors: np.ndarray  # [5] the kept draw's, on the descriptors' scales (before tuning)
    retune_semitones: float  # played this much higher by rate; 0: not
    rendered_hz: float | None = None  # the f0 the decoder rendered it at; None: as its codes carry

    def record(self, space: ControlSpace, asked: Sequence[str]) -> dict:
        """What the sidecar says of the choice: the asked controls as measured, in their units."""
        values = dict(zip(DESCRIPTORS, self.descriptors.tolist(), strict=True))
        measured = {
            name: format_value(name, values[name]) if math.isfinite(values[name]) else None
            for name in asked
            if name in space.ranges
        }
        return {
            "draws": self.draws,
            "kept": self.index,
            "measured": measured,
            "retuned_semitones": round(self.retune_semitones, 3),
            **({} if self.rendered_hz is None else {"rendered_at_hz": round(self.rendered_hz, 2)}),
        }


def measure(samples: np.ndarray, config: MelConfig) -> np.ndarray:
    """A draw's descriptors [5] from its (mono) samples."""
    return describe(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), config)


def distance(asked: np.ndarray, measured: np.ndarray) -> float:
    """Squared distance, in 0..1 of the collection's range, between the asked relative values [5]
    (NaN: not asked) and a draw's measured ones [5]; ``UNMEASURED`` per asked control it lacks."""
    total = 0.0
    for want, have in zip(asked.tolist(), measured.tolist(), strict=True):
        if math.isnan(want):
            continue
        total += (have - want) ** 2 if math.isfinite(have) else UNMEASURED
    return total


def choose(
    space: ControlSpace, asked: np.ndarray, descriptors: Sequence[np.ndarray], silent_start: Sequence[bool]
) -> Choice:
    """The draw nearest the request; a draw that began with silence only when every one did.
    Ties go to the earlier draw, so the choice is the same on every machine that measures the same."""
    relative = [space.relative(measured) for measured in descriptors]
    ranked = min(
        range(len(descriptors)),
        key=lambda index: (silent_start[index], distance(asked, relative[index]), index),
    )
    kept = np.asarray(descriptors[ranked], dtype=np.float64)
    return Choice(
        index=ranked,
        draws=len(descriptors),
        descriptors=kept,
        retune_semitones=retune_semitones(space, asked, kept),
    )


def retune_semitones(space: ControlSpace, asked: np.ndarray, measured: np.ndarray) -> float:
    """How far to tune a draw so it plays the note asked: 0 without a pitch request, without a
    measured pitch, or when it is more than ``MAX_RETUNE_SEMITONES`` off."""
    if "pitch" not in space.ranges or math.isnan(asked[PITCH]) or not math.isfinite(measured[PITCH]):
        return 0.0
    note = space.ranges["pitch"].absolute(float(asked[PITCH]))
    shift = note - float(measured[PITCH])
    return shift if abs(shift) <= MAX_RETUNE_SEMITONES else 0.0


def decoder_pitch_hz(
    space: ControlSpace, asked: np.ndarray, pitch_range: tuple[float, float] | None
) -> float | None:
    """The f0 at which the decoder renders the kept draw so it plays the note asked, or None: no
    pitch asked, or a decoder without a pitch head (``pitch_range`` None) or whose head does not
    reach the note (then the draw is tuned by rate, ``retune``)."""
    if pitch_range is None or "pitch" not in space.ranges or math.isnan(asked[PITCH]):
        return None
    hz = midi_to_hz(space.ranges["pitch"].absolute(float(asked[PITCH])))
    return hz if pitch_range[0] <= hz <= pitch_range[1] else None


def retune(samples: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """samples [T] played ``semitones`` higher (shorter) or lower (longer); unchanged at 0."""
    if semitones == 0:
        return samples
    return play_at_rate(samples, 2.0 ** (semitones / 12), sample_rate).astype(samples.dtype, copy=False)
