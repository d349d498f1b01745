"""Audio <-> code grids with a trained RVQ-VAE, in windows so memory stays flat at any length.

Both directions are exact away from nothing: encoding windows carry the encoder's receptive field
(and the STFT's) as margins, so every column equals one-shot encoding; decoding windows are
crossfaded, so they join without a seam. ``DistillModel.encode/decode/render`` are the user-facing
form; these functions are what they (and training's cached decodes) run.
"""

from __future__ import annotations

import torch

from distill.audio.mel import MelConfig, log_mel
from distill.nn.vqvae import RVQVAE


def frames_for(duration_s: float, mel_config: MelConfig) -> int:
    """Mel frames that cover ``duration_s`` seconds (the vocoder renders hop samples per frame)."""
    return max(1, -(-round(duration_s * mel_config.sample_rate) // mel_config.hop_length))


def columns_for(n_frames: int, frames_per_column: int) -> int:
    """Code-grid columns that cover ``n_frames`` mel frames."""
    return -(-n_frames // frames_per_column)


# Columns encoded per window (11.9 s): peak memory is one window's activations at any length.
ENCODE_WINDOW_COLUMNS = 64


@torch.inference_mode()
def encode_windowed(
    vqvae: RVQVAE,
    samples: torch.Tensor,
    mel_config: MelConfig,
    *,
    window_columns: int = ENCODE_WINDOW_COLUMNS,
) -> tuple[torch.Tensor, int]:
    """Mono samples [N] at the mel's rate -> (code grid [Q, R, C], real mel frames).

    The samples are zero-padded to whole hops (so the last partial hop is heard, not dropped); the
    last column is silence-padded as the RVQ-VAE pads it. Each window of ``window_columns`` columns
    is encoded from its mel plus margins that cover the encoder's receptive field, and each window's
    mel from its samples plus the STFT's reach, so the grid equals ``vqvae.encode`` of the whole
    mel while only one window's mel and activations are ever held.
    """
    if window_columns < 1:
        raise ValueError(f"window_columns must be >= 1, got {window_columns}")
    hop, per_column = mel_config.hop_length, vqvae.frames_per_column
    samples = samples.float().flatten()
    if samples.numel() == 0:
        raise ValueError("cannot encode an empty clip")
    n_frames = -(-samples.numel() // hop)
    lo, hi = vqvae.encoder.temporal_span  # input frames column 0 depends on, relative to frame 0
    margin_left, margin_right = -(-max(0, -lo) // per_column), max(0, hi) // per_column
    stft_reach = mel_config.n_fft // hop + 1  # frames whose window the chunk's own padding could touch
    columns = columns_for(n_frames, per_column)
    pieces = []
    for start in range(0, columns, window_columns):
        stop = min(columns, start + window_columns)
        first = max(0, (start - margin_left) * per_column)  # mel frames [first, last) feed this window
        last = min(n_frames, (stop + margin_right) * per_column)
        chunk_first = max(0, first - stft_reach)
        chunk_last = min(n_frames, last + stft_reach)
        chunk = samples[chunk_first * hop : chunk_last * hop]
        if chunk.numel() < (chunk_last - chunk_first) * hop:  # the end: zeros to a whole hop, as a copy
            chunk = torch.nn.functional.pad(chunk, (0, (chunk_last - chunk_first) * hop - chunk.numel()))
        mel = log_mel(chunk, mel_config)
        mel = mel[:, first - chunk_first : last - chunk_first]  # [n_mels, last - first]
        codes = vqvae.encode(mel[None])[0]  # [Q, R, columns of the window and its margins]
        offset = start - first // per_column
        pieces.append(codes[..., offset : offset + stop - start])
    return torch.cat(pieces, dim=-1), n_frames


@torch.inference_mode()
def decode_windowed(
    vqvae: RVQVAE,
    codes: torch.Tensor,
    *,
    n_frames: int,
    window_columns: int,
    overlap: float,
    start_frame: int = 0,
    pitch_hz: float | None = None,
) -> torch.Tensor:
    """Code grid [Q, R, C] -> mel [n_mels, n_frames], decoded ``window_columns`` at a time.

    Neighbouring windows share ``overlap`` x window columns and are crossfaded linearly there, so a
    long grid costs the memory of one window and its windows join without a seam; a grid that fits
    in one window is decoded in one piece (exactly ``vqvae.decode``). start_frame: where the grid
    sits on the texture's noise field (``RVQVAE.decode``); each window is placed at its own frames.
    pitch_hz: the note every window sounds (``RVQVAE.decode``).
    """
    if not 0.0 <= overlap < 0.5:
        raise ValueError(f"overlap must be in [0, 0.5), got {overlap}")
    columns = codes.shape[-1]
    if columns <= window_columns:
        return vqvae.decode(codes[None], n_frames, start_frame=start_frame, pitch_hz=pitch_hz)[0]
    shared = max(1, round(overlap * window_columns))
    step = window_columns - shared
    starts = list(range(0, columns - window_columns, step)) + [columns - window_columns]
    out: torch.Tensor | None = None
    written = 0  # frames of `out` that are final or being crossfaded
    for start in starts:
        piece = vqvae.decode(  # [n_mels, W*16]
            codes[None, ..., start : start + window_columns],
            start_frame=start_frame + start * vqvae.frames_per_column,
            pitch_hz=pitch_hz,
        )[0]
        if out is None:
            out = piece.new_empty(piece.shape[0], columns * vqvae.frames_per_column)
            out[:, : piece.shape[1]] = piece
            written = piece.shape[1]
            continue
        offset = start * vqvae.frames_per_column
        overlap_frames = written - offset  # shared * 16, or more for the window aligned to the end
        weights = torch.linspace(0.0, 1.0, overlap_frames + 2)[1:-1]  # strictly between 0 and 1
        region = slice(offset, written)
        out[:, region] = out[:, region] * (1 - weights) + piece[:, :overlap_frames] * weights
        out[:, written : offset + piece.shape[1]] = piece[:, overlap_frames:]
        written = offset + piece.shape[1]
    return out[:, :n_frames]
