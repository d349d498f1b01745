"""Rendering with a trained generator of the per-model family (any ``distill.nn.MelGenerator``)."""

from __future__ import annotations

import torch

from distill.nn.mel_generator import MelGenerator
from distill.vocoders.base import Vocoder, chunked_synthesis


class GeneratorVocoder(Vocoder):
    """Inference wrapper around a trained ``MelGenerator`` (HiFi-GAN V2, Vocos, ...).

    Folds the generator's training-time reparametrizations away, switches it to eval, and renders
    through its ``inference_module()`` snapshot (HiFi-GAN: a CPU-fast channels-last layout, ~1.7x
    its own forward; Vocos: layer scales folded into the projections) under
    ``torch.inference_mode``, chunking long inputs (``chunked_synthesis``).
    chunk_frames: frames rendered per chunk (the product uses 1024, about 12 s at 44.1 kHz).
    overlap_frames: context frames on each side of a chunk; None = the generator's receptive
        field bound (``receptive_field_frames()``), which keeps chunked output equal to one-shot.
    The snapshot is taken here: load weights into the generator *before* wrapping it.
    """

    def __init__(
        self,
        generator: MelGenerator,
        *,
        sample_rate: int,
        chunk_frames: int,
        overlap_frames: int | None = None,
        description: str | None = None,
    ):
        generator.remove_weight_norm()
        self.generator = generator.eval()  # the reference forward
        self.frozen = generator.inference_module()  # what __call__ renders with
        self.sample_rate = sample_rate
        self.hop_length = generator.hop_length
        self.kind = generator.kind
        self.description = description or generator.display_name
        overlap = generator.receptive_field_frames() if overlap_frames is None else overlap_frames
        # Chunks (context included) start on multiples of the generator's frame period: whole
        # periods of chunk and context keep every chunk's start there.
        period = generator.frame_period
        self.chunk_frames = -(-chunk_frames // period) * period
        self.overlap_frames = -(-overlap // period) * period

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:  # mel: [B, 128, T] -> [B, 1, T * 512]
        if mel.dim() != 3:
            raise ValueError(f"expected mel [B, n_mels, T], got shape {tuple(mel.shape)}")
        param = next(self.frozen.parameters())
        with torch.inference_mode():
            wave = chunked_synthesis(
                self.frozen,
                mel.to(device=param.device, dtype=param.dtype),
                hop_length=self.hop_length,
                chunk_frames=self.chunk_frames,
                overlap_frames=self.overlap_frames,
            )
        return wave.to(mel.device)
