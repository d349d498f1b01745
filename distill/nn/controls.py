"""The prior's conditioning on what a sound designer asks for (``distill.audio.descriptors``).

A request is one vector per sound: each control's value relative to the collection's range
(0..1, a little beyond with headroom), NaN where nothing is asked. ``ControlEmbedding`` turns it
into one vector of the prior's width, added to the inputs that predict the first column of a
window that begins a sound (``TokenPrior``): the request decides how a sound begins, and the rest
follows from that beginning; the KV cache holds it with no change to the window arithmetic.

An unasked control is its own input (a learned "absent" value per control), not a neutral
number: the prior is trained with controls dropped at random (``PriorModule.control_dropout``),
so "nothing asked" is the unconditioned prior and "only brightness asked" a prior over every
other trait of a sound that bright.
"""

from __future__ import annotations

import torch
from torch import nn

# Each value is also read through sines and cosines of these frequencies (cycles over the
# collection's range): a plain linear read of one number makes every control's effect a ramp,
# and "as loud as the loudest hit" is not the same direction in the network as "a bit louder".
FREQUENCIES = (0.5, 1.0, 2.0, 4.0)


class ControlEmbedding(nn.Module):
    """controls [B, count] (NaN = not asked) -> [B, hidden]."""

    def __init__(self, *, count: int, hidden: int) -> None:
        super().__init__()
        self.count = count
        features = count * (2 + 2 * len(FREQUENCIES))
        self.register_buffer("frequencies", torch.tensor(FREQUENCIES) * 2 * torch.pi, persistent=False)
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, hidden)
        )

    def forward(self, controls: torch.Tensor) -> torch.Tensor:
        if controls.dim() != 2 or controls.shape[1] != self.count:
            raise ValueError(f"controls must have shape [B, {self.count}], got {tuple(controls.shape)}")
        asked = torch.isfinite(controls)
        value = torch.where(asked, controls, torch.zeros_like(controls)).float()  # [B, D]
        angles = value[..., None] * self.frequencies  # [B, D, F]
        present = asked.float()[..., None]
        features = torch.cat([value[..., None], present, angles.sin() * present, angles.cos() * present], -1)
        return self.net(features.flatten(1).to(self.net[0].weight.dtype))


def absent(batch_size: int, count: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A request that asks nothing: [batch_size, count] of NaN."""
    return torch.full((batch_size, count), float("nan"), device=device)
