"""Codebook health of a residual quantizer, measured from the codes it emits.

Plain torch and no Lightning: the codebook-health callback and the bundle's health snapshot both
use this. Metric names follow one scheme: ``codebook/{split}/level{i}/{utilization,perplexity,dead_codes}``
(split: ``train`` or ``val``, right after ``codebook/`` so a dashboard puts the two side by side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LevelHealth:
    level: int
    utilization: float  # fraction of the codebook used at least once, in [0, 1]
    perplexity: float  # exp(entropy) of the usage distribution: 1 = one code, K = uniform; 0 = nothing seen
    dead_codes: int  # codebook_size - codes used at least once

    def metrics(self, split: str) -> dict[str, float]:
        prefix = f"codebook/{split}/level{self.level}"
        return {
            f"{prefix}/utilization": self.utilization,
            f"{prefix}/perplexity": self.perplexity,
            f"{prefix}/dead_codes": float(self.dead_codes),
        }


def _health(counts: torch.Tensor) -> list[LevelHealth]:
    # counts: [Q, K] usage counts per level and code
    codebook_size = counts.shape[1]
    out = []
    for level, row in enumerate(counts.double()):
        total = row.sum()
        used = int((row > 0).sum())
        if total > 0:
            p = row[row > 0] / total
            perplexity = math.exp(float(-(p * p.log()).sum()))
        else:
            perplexity = 0.0
        out.append(
            LevelHealth(
                level=level,
                utilization=used / codebook_size,
                perplexity=perplexity,
                dead_codes=codebook_size - used,
            )
        )
    return out


class CodebookUsage:
    """Accumulates how often each code of each level is emitted, over any number of batches.

    Entries of -1 (levels dropped by quantize dropout) are ignored. ``counts`` is a plain tensor
    so a distributed caller can all-reduce it before reading the health.
    """

    def __init__(self, *, num_levels: int, codebook_size: int) -> None:
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.counts = torch.zeros(num_levels, codebook_size, dtype=torch.long)  # [Q, K]

    def reset(self) -> None:
        self.counts.zero_()

    def update(self, codes: torch.Tensor) -> None:
        """Add a batch of codes [B, Q, R, C] (long, -1 = dropped)."""
        if codes.dim() != 4 or codes.shape[1] != self.num_levels:
            raise ValueError(f"codes must be [B, {self.num_levels}, R, C], got {tuple(codes.shape)}")
        if bool((codes >= self.codebook_size).any()) or bool((codes < -1).any()):
            raise ValueError(f"codes must lie in -1..{self.codebook_size - 1}")
        flat = codes.detach().transpose(0, 1).reshape(self.num_levels, -1).long()  # [Q, N]
        valid = flat >= 0
        # One bincount for all levels: offset each level's codes by level * K.
        offsets = torch.arange(self.num_levels, device=flat.device)[:, None] * self.codebook_size
        counts = torch.bincount((flat + offsets)[valid], minlength=self.num_levels * self.codebook_size)
        self.counts = self.counts.to(counts.device) + counts.view(self.num_levels, self.codebook_size)

    def health(self) -> list[LevelHealth]:
        """Per-level health of everything seen since the last reset."""
        return _health(self.counts)


def health_from_codes(codes: torch.Tensor, codebook_size: int) -> list[LevelHealth]:
    """Per-level health of one code tensor [B, Q, R, C] (or one grid [Q, R, C])."""
    if codes.dim() == 3:
        codes = codes.unsqueeze(0)
    usage = CodebookUsage(num_levels=codes.shape[1], codebook_size=codebook_size)
    usage.update(codes)
    return usage.health()
