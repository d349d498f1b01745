"""How far into its sound each code column lies: the prior's timing input.

Without it, a window after the first slide sees a few seconds of steady partials after BOS and
cannot tell 2 s into a piano note from 12 s: measured on 26 piano notes (15 minutes per prior),
every prior's notes ran on past the recordings' 15 s median to the 36 s cap, and at temperature
0.8 most held flat to the cap: the likeliest continuation of a note of unknown age is to hold.
Stable Audio (``seconds_start``; Evans et al., 2024, arXiv:2402.04825) and Jukebox (Dhariwal et
al., 2020, arXiv:2005.00341) give their priors the same timing for the same reason.

The input is a column's index in its sound (0: the first), read on a log scale, where a one-shot's
envelope changes: the attack's first columns apart, the tail's seconds together. Each input of the
prior gets the embedding of the column it predicts, so a window knows its age throughout, and
a training window from inside a file (or one running on into the next file, the clock running on)
carries the same clock as a generated sound at that point.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# log1p(column) of ~190 s at 186 ms columns: the clock's scale; later columns read on beyond 1.
HORIZON_COLUMNS = 1024
FREQUENCIES = (0.5, 1.0, 2.0, 4.0)  # cycles over log1p(0..HORIZON_COLUMNS)


class TimingEmbedding(nn.Module):
    """columns [..., N] (a column's index in its sound, any integer or float >= 0) -> [..., N, hidden].

    The last layer starts at zero, so a prior begins as if it had no clock and learns what the
    clock is worth to it.
    """

    def __init__(self, *, hidden: int) -> None:
        super().__init__()
        self.register_buffer("frequencies", torch.tensor(FREQUENCIES) * 2 * torch.pi, persistent=False)
        self.net = nn.Sequential(
            nn.Linear(1 + 2 * len(FREQUENCIES), hidden),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden, hidden),
        )
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, columns: torch.Tensor) -> torch.Tensor:
        age = torch.log1p(columns.float().clamp(min=0)) / math.log1p(HORIZON_COLUMNS)  # [..., N]
        angles = age[..., None] * self.frequencies  # [..., N, F]
        features = torch.cat([age[..., None], angles.sin(), angles.cos()], dim=-1)
        return self.net(features.to(self.net[0].weight.dtype))
