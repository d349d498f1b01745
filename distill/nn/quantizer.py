"""Residual vector quantizer over a latent grid: a typed wrapper around vector-quantize-pytorch.

Every (row, col) cell of the grid [B, D, R, C] is quantized on its own: the cells are flattened to
the sequence axis the library expects, [B, R*C, D], and the Q levels quantize successive residuals.

Things the library does that callers must know (checked in vector-quantize-pytorch 1.32 source):
- k-means init: the codebooks start as zeros and the FIRST forward call (train or eval mode - the
  library does not check) runs ``kmeans_iters`` of k-means on that batch's B*R*C cells, per level
  on the residuals left by the levels above. Initial centroids are drawn from those cells without
  replacement when there are at least codebook_size of them, else with duplicates (and a loguru
  warning). So the first batch needs many more cells than codes - aim for >= 10 x codebook_size,
  e.g. 2,560 cells for 256 codes = 16 clips x 8 rows x 20 columns (320 frames). Note Lightning's
  sanity-check validation runs before the first training step, so it would init on val batches.
- EMA: codebooks are not parameters. Each level keeps buffers ``embed`` (the codes),
  ``embed_avg`` and ``cluster_size`` (EMA sums and counts, decay ``decay``) and ``initted``; all are
  persistent, so ``state_dict()`` (and a Lightning checkpoint) resumes training exactly and a
  restored model does not k-means-init again. They update in every train-mode forward.
- dead codes: a code whose EMA count ``cluster_size`` falls below ``threshold_ema_dead_code`` is
  replaced by a random cell of the current batch (train mode only). The expected count per code
  per batch is B*R*C / codebook_size, so the threshold should scale with the batch size.
- commitment loss: the library returns it only in train mode (zeros in eval); in eval mode this
  wrapper computes the same quantity from the codes, so validation losses are comparable.
- quantize dropout: train-mode codes hold -1 for dropped levels; extract codes in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn
from vector_quantize_pytorch import ResidualVQ


@dataclass(frozen=True)
class QuantizedResult:
    quantized: torch.Tensor  # [B, D, R, C] sum of the chosen codes over levels (straight-through in train)
    codes: torch.Tensor  # [B, Q, R, C] long, -1 only for train-mode quantize-dropout levels
    commit_loss: torch.Tensor  # scalar, commitment_weight * sum over levels of MSE(code, residual)


class ResidualQuantizer(nn.Module):
    """Residual VQ of a latent grid, codes [B, Q, R, C].

    Residual vector quantization as in SoundStream (Zeghidour et al. 2021, "SoundStream: An End-to-End
    Neural Audio Codec", Algorithm 1) with EMA codebooks (van den Oord et al. 2017, appendix),
    k-means init and dead-code replacement, via ``vector_quantize_pytorch.ResidualVQ``.
    """

    def __init__(
        self,
        *,
        dim: int,
        num_levels: int,
        codebook_size: int,
        decay: float,
        commitment_weight: float,
        kmeans_iters: int,
        threshold_ema_dead_code: float,
        quantize_dropout: bool,
    ) -> None:
        """dim: latent channels D. num_levels: Q residual levels. codebook_size: K codes per level.
        decay: EMA decay of the codebooks. commitment_weight: beta of the commitment loss.
        kmeans_iters: k-means iterations of the first-batch init (always on).
        threshold_ema_dead_code: EMA usage count below which a code is replaced (> 0 = on).
        quantize_dropout: train with a random number of levels (SoundStream's quantizer dropout).
        """
        super().__init__()
        self.dim = dim
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.commitment_weight = commitment_weight
        self.rvq = ResidualVQ(
            dim=dim,
            num_quantizers=num_levels,
            codebook_size=codebook_size,
            decay=decay,
            commitment_weight=commitment_weight,
            kmeans_init=True,
            kmeans_iters=kmeans_iters,
            threshold_ema_dead_code=threshold_ema_dead_code,
            quantize_dropout=quantize_dropout,
        )

    @property
    def initted(self) -> bool:
        """Whether every level's codebook has been k-means initialised (by a first forward or a state_dict)."""
        return all(bool(layer._codebook.initted) for layer in self.rvq.layers)

    def forward(self, latent: torch.Tensor) -> QuantizedResult:
        # latent: [B, D, R, C]
        # Always in float32, also under mixed precision: in bfloat16 (8 bits of mantissa) the distances
        # to nearby codes round alike, so cells would pick codes by rounding, and the EMA statistics
        # would drift. The library turns autocast off for CUDA only.
        with torch.autocast(latent.device.type, enabled=False):
            return self._quantize(latent.float())

    def _quantize(self, latent: torch.Tensor) -> QuantizedResult:
        _, _, rows, cols = latent.shape
        x = rearrange(latent, "b d r c -> b (r c) d")  # each cell is one vector to quantize
        if self.training:
            quantized, indices, level_losses = self.rvq(x)  # [B, N, D], [B, N, Q], [Q]
            commit_loss = level_losses.sum()
        else:
            quantized, indices, _, all_codes = self.rvq(x, return_all_codes=True)  # all_codes [Q, B, N, D]
            commit_loss = self._commit_loss(x, all_codes)
        return QuantizedResult(
            quantized=rearrange(quantized, "b (r c) d -> b d r c", r=rows, c=cols),
            codes=rearrange(indices, "b (r c) q -> b q r c", r=rows, c=cols).long(),
            commit_loss=commit_loss,
        )

    def _commit_loss(self, x: torch.Tensor, all_codes: torch.Tensor) -> torch.Tensor:
        """What the library computes in train mode: level l commits to residual x - sum_{j<l} code_j."""
        # x: [B, N, D], all_codes: [Q, B, N, D]
        before = torch.cumsum(all_codes, dim=0) - all_codes  # codes of the levels above each level
        residuals = x.unsqueeze(0) - before
        per_level = (all_codes - residuals).pow(2).mean(dim=(1, 2, 3))  # [Q]
        return self.commitment_weight * per_level.sum()

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """Quantized latent of a code grid: codes [B, Q, R, C] long -> [B, D, R, C]."""
        if codes.dim() != 4 or codes.shape[1] != self.num_levels:
            raise ValueError(f"codes must be [B, {self.num_levels}, R, C], got {tuple(codes.shape)}")
        summed = self.rvq.get_output_from_indices(rearrange(codes, "b q r c -> b r c q"))  # [B, R, C, D]
        return rearrange(summed, "b r c d -> b d r c")
