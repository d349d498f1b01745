"""Audio <-> code grids with a trained RVQ-VAE, in windows so memory stays flat at any length."""

from __future__ import annotations

import torch

from distill.audio.mel import MelConfig, log_mel
from distill.nn.conv_codec import DOWNSAMPLE
from distill.nn.vqvae import RVQVAE


def frames_for(duration_s: float, mel_config: MelConfig) -> int:
    """Mel frames that cover ``duration_s`` seconds (the vocoder renders hop samples per frame)."""
    return max(1, -(-round(duration_s * mel_config.sample_rate) // mel_config.hop_length))


def columns_for(n_frames: int) -> int:
    """Code-grid columns that cover ``n_frames`` mel frames (16 frames per column)."""
    return -(-n_frames // DOWNSAMPLE)


@torch.inference_mode()
def encode_audio(vqvae: RVQVAE, samples: torch.Tensor, mel_config: MelConfig) -> torch.Tensor:
    """Mono 44.1 kHz samples [N] -> code grid [Q, R, ceil(frames / 16)] (the last column silence-padded)."""
    mel = log_mel(samples.float(), mel_config)  # [n_mels, F]
    return vqvae.encode(mel[None])[0]


@torch.inference_mode()
def decode_windowed(
    vqvae: RVQVAE, codes: torch.Tensor, *, n_frames: int, window_columns: int, overlap: float
) -> torch.Tensor:
    """Code grid [Q, R, C] -> mel [n_mels, n_frames], decoded ``window_columns`` at a time.

    Neighbouring windows share ``overlap`` x window columns and are crossfaded linearly there, so a
    long grid costs the memory of one window and its windows join without a seam; a grid that fits
    in one window is decoded in one piece (exactly ``vqvae.decode``).
    """
    if not 0.0 <= overlap < 0.5:
        raise ValueError(f"overlap must be in [0, 0.5), got {overlap}")
    columns = codes.shape[-1]
    if columns <= window_columns:
        return vqvae.decode(codes[None], n_frames)[0]
    shared = max(1, round(overlap * window_columns))
    step = window_columns - shared
    starts = list(range(0, columns - window_columns, step)) + [columns - window_columns]
    out: torch.Tensor | None = None
    written = 0  # frames of `out` that are final or being crossfaded
    for start in starts:
        piece = vqvae.decode(codes[None, ..., start : start + window_columns])[0]  # [n_mels, W*16]
        if out is None:
            out = piece.new_empty(piece.shape[0], columns * DOWNSAMPLE)
            out[:, : piece.shape[1]] = piece
            written = piece.shape[1]
            continue
        offset = start * DOWNSAMPLE
        overlap_frames = written - offset  # shared * 16, or more for the window aligned to the end
        weights = torch.linspace(0.0, 1.0, overlap_frames + 2)[1:-1]  # strictly between 0 and 1
        region = slice(offset, written)
        out[:, region] = out[:, region] * (1 - weights) + piece[:, :overlap_frames] * weights
        out[:, written : offset + piece.shape[1]] = piece[:, overlap_frames:]
        written = offset + piece.shape[1]
    return out[:, :n_frames]
