"""The one inference interface from mel to waveform, and chunked rendering with flat memory.

Every part of distill that needs audio from a mel (pipeline, code editing, previews, export,
evaluation) goes through ``Vocoder``: a trained generator of the family (``GeneratorVocoder``) and
the universal BigVGAN implement it, and both render through ``chunked_synthesis``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch


class Vocoder(ABC):
    """Renders log-mels (``distill.audio.mel.log_mel``) to audio: mel [B, 128, T] -> wave [B, 1, T * 512].

    Implementations are inference-only (no grad, eval mode) and must accept any T >= 1.
    ``kind`` is the short name recorded in metadata (``vocos``, ``hifigan``, ``bigvgan``) and
    ``description`` what a person reads ("Vocos (the model's own)").
    """

    sample_rate: int
    hop_length: int
    kind: str
    description: str

    @abstractmethod
    def __call__(self, mel: torch.Tensor) -> torch.Tensor: ...


def chunked_synthesis(
    render: Callable[[torch.Tensor], torch.Tensor],
    mel: torch.Tensor,
    *,
    hop_length: int,
    chunk_frames: int,
    overlap_frames: int,
) -> torch.Tensor:
    """Run a frame-aligned mel->wave function over a long mel in chunks, with flat memory.

    render: mel [B, C, t] -> wave [B, 1, t * hop_length] (one-shot, convolutional in time).
    mel: [B, C, T]. Returns [B, 1, T * hop_length].

    Each chunk of ``chunk_frames`` frames is rendered together with ``overlap_frames`` frames of
    real mel context on each side, and the audio of that context is then *discarded* rather than
    crossfaded. Why discard: a convolutional generator's output sample depends only on the mel
    frames inside its receptive field, so once the context covers the receptive field, the kept
    samples are exactly the one-shot samples (up to float rounding) and the chunks join without a
    seam. A crossfade would instead blend in samples near a chunk's truncated (zero-padded) edge,
    which are the wrong ones, so it could only make the seam worse.
    Peak memory is that of one (chunk + 2 * overlap)-frame render plus the output buffer.
    """
    if chunk_frames < 1 or overlap_frames < 0:
        raise ValueError("chunk_frames must be >= 1 and overlap_frames >= 0")
    batch, _, frames = mel.shape
    if frames <= chunk_frames:
        return render(mel)
    out = mel.new_empty(batch, 1, frames * hop_length)  # [B, 1, T * hop]
    for start in range(0, frames, chunk_frames):
        stop = min(start + chunk_frames, frames)
        left, right = max(0, start - overlap_frames), min(frames, stop + overlap_frames)
        wave = render(mel[:, :, left:right])  # [B, 1, (right - left) * hop]
        keep_from = (start - left) * hop_length
        out[:, :, start * hop_length : stop * hop_length] = wave[
            :, :, keep_from : keep_from + (stop - start) * hop_length
        ]
    return out
