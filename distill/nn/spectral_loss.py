"""Multi-scale L1 loss between log-mels, with an optional mask of real (non-padding) frames."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MultiScaleMelLoss(nn.Module):
    """Mean over scales s of the L1 distance between mels average-pooled s x s (frequency x time).

    Scale 1 is the plain mel L1; the coarser scales weigh the overall spectral envelope and
    energy, which a per-bin L1 on a 128 x T image underweights. A multi-resolution spectral
    objective in the spirit of Yamamoto et al. 2020 ("Parallel WaveGAN", multi-resolution STFT
    loss), here on one mel pooled at several resolutions instead of several STFTs.

    Masking: padded frames count for nothing. The difference is zeroed there before pooling and
    each scale is divided by the number of real (bin, frame) pairs it covers, so a batch of padded
    clips gives the loss of the real frames alone (exactly, at scale 1 and where pooling windows
    do not straddle the end of a clip).
    """

    def __init__(self, *, scales: Sequence[int]) -> None:
        """scales: pooling factors, e.g. (1, 2, 4); each must divide the number of mel bands."""
        super().__init__()
        if not scales or any(s < 1 for s in scales):
            raise ValueError(f"scales must be positive pooling factors, got {list(scales)}")
        self.scales = tuple(int(s) for s in scales)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        # pred, target: [B, n_mels, T]; mask: [B, T] bool, True = real frame. Returns a scalar.
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        batch, n_mels, n_frames = pred.shape
        if mask is None:
            mask = torch.ones(batch, n_frames, dtype=torch.bool, device=pred.device)
        if mask.shape != (batch, n_frames):
            raise ValueError(f"mask must be [B, T] = {(batch, n_frames)}, got {tuple(mask.shape)}")
        # where() rather than multiply: padding may hold anything, even inf.
        diff = torch.where(
            mask[:, None, :], pred - target, torch.zeros((), dtype=pred.dtype, device=pred.device)
        )
        weight = mask.to(pred.dtype)  # [B, T]
        losses = []
        for s in self.scales:
            if n_mels % s:
                raise ValueError(f"scale {s} does not divide the {n_mels} mel bands")
            # Pad time to a multiple of s with masked-out frames, so the tail frames still count.
            pad = (-n_frames) % s
            d = F.pad(diff, (0, pad)).unsqueeze(1)  # [B, 1, n_mels, T']
            w = F.pad(weight, (0, pad)).unsqueeze(1)  # [B, 1, T']
            pooled = F.avg_pool2d(d, s) if s > 1 else d  # [B, 1, n_mels/s, T'/s]
            real = F.avg_pool1d(w, s) if s > 1 else w  # [B, 1, T'/s] fraction of real frames per window
            # sum |mean diff| over windows / number of windows weighted by their real fraction:
            # equals the plain mean when nothing is masked.
            losses.append(pooled.abs().sum() / (real.sum() * (n_mels // s)).clamp_min(1e-8))
        return torch.stack(losses).mean()


def texture_nll(
    mean: torch.Tensor, log_scale: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Gaussian negative log-likelihood (less its constant) of the target's spread around a mean the
    loss does not move: 0.5 (r / scale)^2 + log scale with r = target - mean, the mean detached.

    Minimised where scale^2 is the expected r^2 given the codes: the texture head
    (``ConvDecoder``) learns how much detail the mean leaves out, bin by bin, without pulling the
    mean toward the blur that the reconstruction loss already pulls it to. Padded frames
    (``mask`` [B, T] False) count for nothing. mean, log_scale, target: [B, n_mels, T].
    """
    residual = (target - mean).detach()
    nll = 0.5 * (residual * torch.exp(-log_scale)).square() + log_scale
    bins = mask[:, None, :].expand_as(nll)
    return nll[bins].mean()
