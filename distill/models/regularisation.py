"""How much the prior is regularised, sized to how much audio it learns from.

A prior that learns 40 s of drum hits has seen every window of them many times within minutes and
starts learning them by heart: its validation loss rises and early stopping ends the run at half
its budget. Replacing some of the tokens it reads with random codes (``PriorModule.input_noise``)
stops that. A prior on 6 minutes of piano notes has not yet fitted its collection when the budget
ends, and the same noise only slows it down. One fixed amount cannot serve both (model/prior.yaml
has the measurements), so the amount follows the seconds of training audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class InputNoiseByAudio:
    """``most`` of the tokens read replaced by random codes up to ``full_up_to_seconds`` of training
    audio, none from ``none_from_seconds`` on, and in between a share falling with the log of the
    seconds (each doubling of the audio takes off the same amount)."""

    most: float
    full_up_to_seconds: float
    none_from_seconds: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.most < 1.0:
            raise ValueError(f"input noise: most must be in [0, 1), got {self.most}")
        if not 0.0 < self.full_up_to_seconds < self.none_from_seconds:
            raise ValueError(
                "input noise: need 0 < full_up_to_seconds < none_from_seconds, got "
                f"{self.full_up_to_seconds} and {self.none_from_seconds}"
            )

    def amount(self, training_seconds: float) -> float:
        """The share of the tokens read that are replaced, for this many seconds of training audio."""
        if training_seconds <= self.full_up_to_seconds:
            return self.most
        if training_seconds >= self.none_from_seconds:
            return 0.0
        span = math.log(self.none_from_seconds / self.full_up_to_seconds)
        return self.most * math.log(self.none_from_seconds / training_seconds) / span
