"""The RVQ-VAE decoder's pitch head: each frame's pitch, read from its code column.

The decoder's 2-D convolutions render a spectral envelope well and a pitch's harmonics badly (the
same filters at every frequency, trained for minutes, average partials into a wash). So the codes
carry the pitch explicitly: the encoder sees the tracked pitch (``distill.audio.mel_pitch``), the
head predicts each frame's pitch distribution and voicing from the column's cells (trained against
the tracker), and the decoder gets the harmonic pattern of that prediction as an input where it
renders full resolution. A grid stays only codes; its pitch is decoded from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distill.audio.mel_pitch import (
    CODES_F0_MAX,
    PitchTrack,
    candidate_f0,
    candidate_patterns,
    harmonic_pattern,
)


@dataclass(frozen=True)
class PitchPrediction:
    logits: torch.Tensor  # [B, P, T] over candidate_f0(f0_max=f0_max)
    voicing_logit: torch.Tensor  # [B, T]: the tracker's confidence, as a logit
    f0_max: float

    def pattern(self, temperature: float = 1.0) -> torch.Tensor:
        """[B, n_mels, T]: the expected harmonic pattern under the prediction at ``temperature``, x its
        voicing. Below 1 the likelier pitches weigh more: a frame has one pitch, and the expectation
        over a spread of candidates is a blur of combs."""
        patterns = candidate_patterns(f0_max=self.f0_max).to(self.logits.device, self.logits.dtype)
        expected = torch.einsum("bpt,pm->bmt", (self.logits / temperature).softmax(dim=1), patterns)
        return expected * torch.sigmoid(self.voicing_logit)[:, None]

    def pattern_at(self, f0_hz: float) -> torch.Tensor:
        """[B, n_mels, T]: the harmonic pattern of ``f0_hz`` in every frame, x the voicing decoded. A
        note asked for, rendered on the codes' envelope: where the codes sound pitched, they sound
        that note; an attack's noise, unvoiced in the codes, stays noise."""
        pattern = harmonic_pattern(f0_hz).to(self.logits.device, self.logits.dtype)
        return pattern[None, :, None] * torch.sigmoid(self.voicing_logit)[:, None]


class PitchHead(nn.Module):
    """Latent grid [B, D, R, C] -> ``PitchPrediction`` for 16C frames.

    Per column (no context across columns, so a column's pitch is its own cells'), then a transposed
    convolution of kernel 2x16 and stride 16 gives each frame of the column its own weights (the
    contour within a column) and overlaps neighbouring columns by 8 frames (smooth joins).
    """

    def __init__(
        self, *, cell_channels: int, width: int, frames_per_column: int, f0_max: float = CODES_F0_MAX
    ) -> None:
        super().__init__()
        self.frames_per_column = frames_per_column
        self.f0_max = float(f0_max)  # its candidates: candidate_f0(f0_max=f0_max)
        n_out = len(candidate_f0(f0_max=self.f0_max)) + 1
        self.net = nn.Sequential(
            nn.Conv1d(cell_channels, width, 1),
            nn.SiLU(),
            nn.ConvTranspose1d(
                width,
                width,
                2 * frames_per_column,
                stride=frames_per_column,
                padding=frames_per_column // 2,
            ),
            nn.SiLU(),
            nn.Conv1d(width, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv1d(width, n_out, 1),
        )

    @property
    def temporal_span(self) -> tuple[int, int]:
        """Frames [16c + lo, 16c + hi] (inclusive) of its output that latent column c influences."""
        half = self.frames_per_column // 2
        return -half - 1, 2 * self.frames_per_column - half

    def forward(self, latent: torch.Tensor) -> PitchPrediction:
        b, d, rows, columns = latent.shape
        out = self.net(latent.transpose(1, 2).reshape(b, rows * d, columns))  # [B, P + 1, 16C]
        return PitchPrediction(logits=out[:, :-1], voicing_logit=out[:, -1], f0_max=self.f0_max)


def pitch_loss(prediction: PitchPrediction, target: PitchTrack, frame_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy to the tracked candidate, weighted by the frame's confidence (an unpitched
    frame's argmax means nothing), plus the voicing's binary cross-entropy to the confidence; mean
    over real frames ([B, T] mask)."""
    n = frame_mask.shape[-1]  # the prediction and target also cover the padding to whole columns
    logits, voicing = prediction.logits[..., :n].float(), prediction.voicing_logit[..., :n].float()
    candidate, confidence = target.candidate[..., :n], target.confidence[..., :n]
    mask = frame_mask.float()
    pitch = F.cross_entropy(logits, candidate, reduction="none") * confidence
    voiced = F.binary_cross_entropy_with_logits(voicing, confidence, reduction="none")
    return ((pitch + voiced) * mask).sum() / mask.sum().clamp_min(1.0)
