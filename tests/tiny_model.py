"""A DistillModel over debug-size modules, for tests of generation, rendering and edits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import NARROW_V2, TINY_CELL_PRIOR, tiny_rvqvae

from distill.audio.control_space import ControlSpace
from distill.audio.envelope import CollectionShape
from distill.audio.mel import MelConfig
from distill.errors import UserError
from distill.model import DistillModel
from distill.nn.cell_prior import CellPrior
from distill.nn.hifigan import HifiGanGenerator
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE
from distill.vocoders.base import Vocoder
from distill.vocoders.generator import GeneratorVocoder
from distill.vocoders.selection import VocoderSelection


@dataclass
class TinyModel(DistillModel):
    """DistillModel's own encode, decode, vocode and render over tiny modules, with fields that
    ``dataclasses.replace`` can swap: the vocoder, the prior, the collection's shape."""

    vqvae: RVQVAE
    prior: TokenPrior | None
    own_vocoder: Vocoder
    name: str = "tiny"
    id: str = "0123456789abcdef"
    mel_config: MelConfig = MelConfig()
    sounds: CollectionShape | None = None
    controls: ControlSpace | None = None
    path: Path | None = None  # not loaded from a file, so its sounds name no model file
    content_sha256: str | None = None
    _vqvae_digest: str | None = None

    def select_vocoder(self, choice: str = "auto") -> VocoderSelection:
        if choice == "bigvgan":
            raise UserError("No BigVGAN here.")
        return VocoderSelection(vocoder=self.own_vocoder, reason="the only one", quality=None, warning=None)


# What a tiny model's controls mean: a collection from -30 to -10 dB, 500 Hz to 4 kHz, 0.25 to 2 s,
# -40 to -10 dB flat, C3 to C5.
TINY_CONTROLS = {
    "loudness": {"low": -30.0, "high": -10.0},
    "brightness": {"low": 8.97, "high": 11.97},
    "length": {"low": -2.0, "high": 1.0},
    "noisiness": {"low": -40.0, "high": -10.0},
    "pitch": {"low": 48.0, "high": 72.0},
}


def tiny_model(*, controls: bool = False) -> TinyModel:
    """2 levels x 8 rows of 16 codes; a 1-layer cell prior with a 4-column window; a narrow HiFi-GAN.
    ``controls``: the prior is conditioned on the five controls, meaning ``TINY_CONTROLS``."""
    prior = CellPrior(**TINY_CELL_PRIOR, controls=5 if controls else 0)
    generator = HifiGanGenerator(**{**NARROW_V2, "upsample_initial_channel": 16})
    vocoder = GeneratorVocoder(generator, sample_rate=44100, chunk_frames=64)
    space = ControlSpace.from_dict(TINY_CONTROLS) if controls else None
    return TinyModel(vqvae=tiny_rvqvae().eval(), prior=prior.eval(), own_vocoder=vocoder, controls=space)


def decaying_tone(seconds: float, pitch: float) -> np.ndarray:
    """Mono samples at 44.1 kHz: a sine at ``pitch`` Hz decaying over the clip."""
    t = np.arange(int(seconds * 44100)) / 44100
    return (0.4 * np.sin(2 * np.pi * pitch * t) * np.exp(-2 * t)).astype(np.float32)
