"""RVQ-VAE: mel -> continuous latent grid -> residual codes -> mel.

The code grid of a clip is [levels, freq_rows, time_cols] = [Q, 8, ceil(T / 16)] (docs/DESIGN.md). Any
clip length is accepted: the mel is padded with digital-silence frames to a multiple of 16 (what
the clip "continues" with after it ends) and the reconstruction is trimmed back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.audio.mel import silence_frame
from distill.nn.conv_codec import DOWNSAMPLE, ConvDecoder, ConvEncoder
from distill.nn.quantizer import ResidualQuantizer


@dataclass(frozen=True)
class VQVAEOutput:
    recon: torch.Tensor  # [B, n_mels, T] reconstructed log-mel, trimmed to the input length
    codes: torch.Tensor  # [B, Q, n_mels/16, ceil(T/16)] long
    commit_loss: torch.Tensor  # scalar, summed over levels
    latent: torch.Tensor  # [B, D, n_mels/16, ceil(T/16)] encoder output before quantization
    quantized: torch.Tensor  # [B, D, n_mels/16, ceil(T/16)] what the decoder consumed


class RVQVAE(nn.Module):
    """Mel autoencoder with a residual-VQ bottleneck.

    VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning") with the residual
    quantizer of SoundStream (Zeghidour et al. 2021). Receives built modules so each part is its
    own Hydra config node; their widths must agree.
    """

    def __init__(self, *, encoder: ConvEncoder, quantizer: ResidualQuantizer, decoder: ConvDecoder) -> None:
        super().__init__()
        if not encoder.latent_dim == quantizer.dim == decoder.latent_dim:
            raise ValueError(
                f"latent widths disagree: encoder {encoder.latent_dim}, quantizer {quantizer.dim}, "
                f"decoder {decoder.latent_dim}"
            )
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        # Mel frames per code-grid column (four stride-2 stages); code grids take it from here.
        self.frames_per_column = DOWNSAMPLE
        # Not persistent: it is part of the mel definition, not of the trained weights.
        self.register_buffer("silence", silence_frame().view(1, -1, 1), persistent=False)  # [1, n_mels, 1]

    def _pad(self, mel: torch.Tensor) -> torch.Tensor:
        # mel: [B, n_mels, T] -> [B, n_mels, 16 * ceil(T / 16)], padded at the end with silence frames
        pad = (-mel.shape[-1]) % DOWNSAMPLE
        if pad == 0:
            return mel
        return torch.cat([mel, self.silence.to(mel.dtype).expand(mel.shape[0], -1, pad)], dim=-1)

    def forward(self, mel: torch.Tensor) -> VQVAEOutput:
        # mel: [B, n_mels, T], any T >= 1
        n_frames = mel.shape[-1]
        latent = self.encoder(self._pad(mel))  # [B, D, R, C]
        q = self.quantizer(latent)
        recon = self.decoder(q.quantized)[..., :n_frames]  # [B, n_mels, T]
        return VQVAEOutput(
            recon=recon, codes=q.codes, commit_loss=q.commit_loss, latent=latent, quantized=q.quantized
        )

    @torch.no_grad()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Code grid of a mel of any length: [B, n_mels, T] -> [B, Q, n_mels/16, ceil(T/16)] long.

        Needs eval mode: a train-mode forward would update the EMA codebooks (and, with quantize
        dropout, return -1 for dropped levels).
        """
        if self.training:
            raise RuntimeError(
                "RVQVAE.encode needs eval mode (call .eval()): train mode updates the codebooks"
            )
        return self.quantizer(self.encoder(self._pad(mel))).codes

    def decode(self, codes: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        """Mel of a code grid: [B, Q, R, C] -> [B, 16R, n_frames] (n_frames defaults to 16C)."""
        full = DOWNSAMPLE * codes.shape[-1]
        if n_frames is not None and not 0 < n_frames <= full:
            raise ValueError(
                f"n_frames must be in 1..{full} for {codes.shape[-1]} code columns, got {n_frames}"
            )
        mel = self.decoder(self.quantizer.codes_to_latent(codes))  # [B, 16R, 16C]
        return mel if n_frames is None else mel[..., :n_frames]
