"""What the controls of a conditioned prior mean: the collection's range of each descriptor
(``distill.audio.descriptors`` measures them), and a request in 0..1 of that range or in the
descriptor's own units (dB, Hz, seconds, a note) turned into what the prior reads.

Torch- and numpy-free at import, so the CLI can describe a model's controls without loading either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distill.errors import UserError

# The order of the prior's control inputs; a conditioned prior reads all of them (NaN = not asked).
DESCRIPTORS = ("loudness", "brightness", "length", "noisiness", "pitch")

# A control's 0..1 is the collection's range; requests this far beyond it are still allowed.
HEADROOM = 0.25
# The narrowest range a control spans, in its scale's units: a collection whose sounds are all
# equally loud (or one note) still gets a control that moves by audible steps.
MIN_SPAN = {"loudness": 6.0, "brightness": 0.5, "length": 0.5, "noisiness": 3.0, "pitch": 2.0}
# A collection has a pitch control when at least this share of its sounds have a pitch.
PITCHED_COLLECTION = 0.5
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi: float, *, file_safe: bool = False) -> str:
    """MIDI note number -> its nearest name, e.g. 48 -> 'C3' (C4 = 60, middle C); ``file_safe``
    writes a sharp as 's' ('Cs3'), for file names."""
    number = round(midi)
    name = f"{NOTE_NAMES[number % 12]}{number // 12 - 1}"
    return name.replace("#", "s") if file_safe else name


def midi_to_hz(midi: float) -> float:
    """MIDI note number -> f0 in Hz (A4 = 69 = 440 Hz, equal temperament); ``hz_to_midi``'s inverse."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def hz_to_midi(hz: float) -> float:
    """f0 in Hz (> 0) -> MIDI note number, fractional between keys."""
    return 69.0 + 12.0 * math.log2(hz / 440.0)


def parse_note(text: str) -> float:
    """'C3', 'A#4', 'Bb2' or '220Hz' -> MIDI note number (C4 = 60); a UserError otherwise."""
    value = text.strip()
    match = re.fullmatch(r"([A-Ga-g])([#b]?)(-?\d+)", value)
    if match:
        letter, accidental, octave = match.groups()
        number = NOTE_NAMES.index(letter.upper()) + {"#": 1, "b": -1, "": 0}[accidental]
        return float(number + 12 * (int(octave) + 1))
    hz = _number_with_unit(value, {"hz": 1.0, "khz": 1000.0})
    if hz is not None and hz > 0:
        return hz_to_midi(hz)
    raise UserError(
        f"{text!r} is not a note: give a name such as C3, A#4 or Bb2, or a frequency such as 220Hz."
    )


MAX_NOTES = 128


def note_range(text: str) -> list[float]:
    """'C2..C5' -> MIDI note numbers of every key from C2 to C5; a UserError naming the problem."""
    ends = text.split("..")
    if len(ends) != 2 or not all(end.strip() for end in ends):
        raise UserError(f"--notes takes a range of keys such as C2..C5, got {text!r}.")
    low, high = (round(parse_note(end)) for end in ends)
    if not 0 <= low <= high <= 127:
        raise UserError(
            f"--notes {text}: the range must go up, from a lower key to a higher one within MIDI notes 0-127."
        )
    return [float(note) for note in range(low, high + 1)][:MAX_NOTES]


def _number_with_unit(text: str, units: Mapping[str, float]) -> float | None:
    match = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([a-z]+)", text.strip().lower())
    if not match or match.group(2) not in units:
        return None
    value = float(match.group(1)) * units[match.group(2)]
    return value if math.isfinite(value) else None


# Absolute units each control takes (beside 0..1 of the collection), and how they map to its scale.
_ABSOLUTE = {
    "loudness": ("dB, e.g. -12dB", lambda text: _number_with_unit(text, {"db": 1.0, "dbfs": 1.0})),
    "brightness": (
        "Hz, e.g. 2500Hz",
        lambda text: _log2_positive(_number_with_unit(text, {"hz": 1.0, "khz": 1e3})),
    ),
    "length": (
        "seconds, e.g. 1.5s",
        lambda text: _log2_positive(_number_with_unit(text, {"s": 1.0, "ms": 1e-3})),
    ),
    "noisiness": ("no unit: give 0..1", lambda text: None),
    "pitch": ("a note, e.g. C3 or 220Hz", parse_note),
}


def _log2_positive(value: float | None) -> float | None:
    return math.log2(value) if value is not None and value > 0 else None


@dataclass(frozen=True)
class ControlRange:
    """One control: the collection's range on the descriptor's scale (0 and 1 of the control)."""

    low: float
    high: float

    def relative(self, value: float) -> float:
        return (value - self.low) / (self.high - self.low)

    def absolute(self, relative: float) -> float:
        return self.low + relative * (self.high - self.low)


@dataclass(frozen=True)
class ControlSpace:
    """The controls a prior was trained with, and the collection's range of each.

    ``ranges`` holds the controls the collection has (pitch only for a pitched collection), in
    ``DESCRIPTORS`` order; the prior reads every descriptor's relative value (NaN = not asked).
    """

    ranges: dict[str, ControlRange]

    @classmethod
    def measure(cls, descriptors: Any) -> ControlSpace:
        """From the recordings' descriptors, array [N, 5] (not the augmented takes: 0..1 is the collection's)."""
        import numpy as np

        descriptors = np.asarray(descriptors, dtype=np.float64)
        ranges = {}
        for index, name in enumerate(DESCRIPTORS):
            values = descriptors[:, index]
            present = values[np.isfinite(values)]
            if name == "pitch" and len(present) < PITCHED_COLLECTION * len(values):
                continue
            if not len(present):
                continue
            low, high = float(present.min()), float(present.max())
            widen = max(0.0, MIN_SPAN[name] - (high - low)) / 2
            ranges[name] = ControlRange(low=low - widen, high=high + widen)
        return cls(ranges=ranges)

    def relative(self, descriptors: Any) -> Any:
        """descriptors, array [..., 5] -> what the prior reads [..., 5]: relative values, NaN where
        the collection has no such control or the sound no such value."""
        import numpy as np

        descriptors = np.asarray(descriptors, dtype=np.float64)
        out = np.full(descriptors.shape, np.nan)
        for index, name in enumerate(DESCRIPTORS):
            if name in self.ranges:
                out[..., index] = self.ranges[name].relative(descriptors[..., index])
        return out

    def request(self, controls: Mapping[str, Any], *, model: str) -> list[float]:
        """A request ({name: 0..1 of the collection, or a value with its unit}) -> relative values
        [5] for the prior (NaN: not asked); one UserError naming the first control it cannot honour."""
        vector = [math.nan] * len(DESCRIPTORS)
        for name, value in controls.items():
            if name not in DESCRIPTORS:
                raise UserError(f"Unknown control {name!r}; the controls are {', '.join(DESCRIPTORS)}.")
            if name not in self.ranges:
                why = "its collection has no stable pitch" if name == "pitch" else "it was trained without it"
                have = ", ".join(self.ranges) or "none"
                raise UserError(f"Model {model} has no {name} control ({why}); its controls: {have}.")
            vector[DESCRIPTORS.index(name)] = self._relative_request(name, value)
        return vector

    def _relative_request(self, name: str, value: Any) -> float:
        span = self.ranges[name]
        if isinstance(value, bool):
            raise UserError(f"--{name} needs a number from 0 to 1 or a value with its unit, got {value}.")
        if isinstance(value, int | float):
            relative = float(value)
            given = f"{value}"
        else:
            text = str(value).strip()
            try:
                relative = float(text)
                if not math.isfinite(relative):
                    raise ValueError(text)
                given = text
            except ValueError:
                unit_hint, parse = _ABSOLUTE[name]
                scale_value = parse(text)
                if scale_value is None:
                    raise UserError(
                        f"--{name} {text!r} is neither a number from 0 to 1 (the collection's range) nor"
                        f" a value in {unit_hint}."
                    ) from None
                relative = span.relative(scale_value)
                given = text
        if not (math.isfinite(relative) and -HEADROOM <= relative <= 1 + HEADROOM):
            raise UserError(
                f"--{name} {given} is outside what the collection spans ({self.describe_range(name)});"
                f" ask for {-HEADROOM:g} to {1 + HEADROOM:g} of its range, 0 and 1 being its extremes."
            )
        return relative

    def describe_range(self, name: str) -> str:
        """The collection's range of a control in its own units, e.g. '-31.2 to -9.8 dB'."""
        span = self.ranges[name]
        return f"{format_value(name, span.low)} to {format_value(name, span.high)}"

    def as_dict(self) -> dict[str, Any]:
        return {name: {"low": span.low, "high": span.high} for name, span in self.ranges.items()}

    @classmethod
    def from_dict(cls, data: Any) -> ControlSpace | None:
        """What ``as_dict`` wrote; None for a model without controls (or a damaged record)."""
        if not isinstance(data, Mapping) or not data:
            return None
        try:
            ranges = {  # in the prior's order, whatever order the record kept
                name: ControlRange(low=float(data[name]["low"]), high=float(data[name]["high"]))
                for name in DESCRIPTORS
                if name in data
            }
        except (KeyError, TypeError, ValueError):
            return None
        if any(
            not (math.isfinite(r.low) and math.isfinite(r.high) and r.high > r.low) for r in ranges.values()
        ):
            return None
        return cls(ranges=ranges) if ranges else None


def format_value(name: str, value: float) -> str:
    """A descriptor's value on its scale, as a person reads it: '-12.0 dB', '2500 Hz', 'C3'."""
    if name == "loudness":
        return f"{value:.1f} dB"
    if name == "brightness":
        return f"{2**value:.0f} Hz"
    if name == "length":
        return f"{2**value:.2f} s"
    if name == "pitch":
        return note_name(value)
    return f"{value:.1f} dB flatness"
