"""How well a vocoder renders held-out audio: the one scoring rule of training, packaging and benchmarks.

A rendering of a real recording's mel is scored two ways, each averaged over files:
- mel L1: |log_mel(rendered) - input mel|, whether the audio re-analyses to the mel it was asked for;
- M-STFT: the multi-resolution STFT distance of the rendering to the *real* audio (spectral
  convergence + log magnitude at 512/1024/2048-point resolutions), which also sees transients and
  detail the 128-band mel blurs. Lower is better for both; selection ranks by M-STFT.

The M-STFT's scale is versioned (``MSTFT_VERSION``, recorded beside it): numbers of different
versions are never compared, and a summary or model file that records none holds version 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from distill.audio.mel import MelConfig, log_mel
from distill.nn.gan_losses import MultiResolutionSTFTDistance
from distill.vocoders import MSTFT_VERSION

# The 2048-point STFT of the M-STFT distance needs at least this many samples.
MIN_SCORED_SAMPLES = 2048


@dataclass(frozen=True, kw_only=True)
class RenderScore:
    """One rendering's scores (scalars)."""

    mel_l1: torch.Tensor
    mstft: torch.Tensor
    spectral_convergence: torch.Tensor


def score_rendering(
    fake: torch.Tensor,
    real: torch.Tensor,
    mel: torch.Tensor,
    *,
    mel_config: MelConfig,
    stft_distance: MultiResolutionSTFTDistance,
) -> RenderScore:
    """fake, real: [1, 1, frames * hop]; mel: [1, n_mels, frames], the real recording's mel (what a
    vocoder fine-tuned on RVQ-VAE reconstructions rendered from is a reconstruction of it)."""
    mel_l1 = F.l1_loss(log_mel(fake, mel_config), mel)
    pad = max(0, MIN_SCORED_SAMPLES - real.shape[-1])
    distance = stft_distance(F.pad(fake, (0, pad)), F.pad(real, (0, pad)))
    return RenderScore(
        mel_l1=mel_l1, mstft=distance.total, spectral_convergence=distance.spectral_convergence
    )


@dataclass(frozen=True, kw_only=True)
class VocoderQuality:
    """A vocoder's held-out scores: means over ``files`` recordings (see the module docstring)."""

    mel_l1: float
    mstft: float
    files: int
    mstft_version: int = MSTFT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def comparable(self, other: VocoderQuality) -> bool:
        """Whether the two M-STFT numbers are on one scale (a ranking of them means something)."""
        return self.mstft_version == other.mstft_version

    @classmethod
    def from_dict(cls, data: Any) -> VocoderQuality | None:
        """The quality recorded in a summary or model file, or None when absent or malformed."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                mel_l1=float(data["mel_l1"]),
                mstft=float(data["mstft"]),
                files=int(data["files"]),
                # Written before the version was recorded: the unbounded first definition.
                mstft_version=int(data.get("mstft_version", 1)),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        files = f"{self.files} held-out file" + ("" if self.files == 1 else "s")
        old = "" if self.mstft_version == MSTFT_VERSION else f" (v{self.mstft_version} scale)"
        return f"M-STFT {self.mstft:.2f}{old}, mel L1 {self.mel_l1:.2f} on {files}"


def stft_distance_config(recorded: Mapping[str, Any] | None = None) -> Any:
    """The M-STFT distance's config (a DictConfig to instantiate): model/vocoder.yaml's, with what a
    run ``recorded`` (its ``model.stft_distance``) on top. A run written before a setting existed
    (floor_db, silence_db: MSTFT_VERSION 2) gets today's value, so it still loads."""
    from omegaconf import OmegaConf

    from distill.config import load_option

    current = load_option("model", "vocoder").stft_distance
    return OmegaConf.merge(current, recorded) if recorded is not None else current


def measure_vocoder(
    render,
    recordings: Iterable[torch.Tensor],
    *,
    stft_distance: MultiResolutionSTFTDistance,
    mel_config: MelConfig = MelConfig(),
) -> VocoderQuality:
    """Score ``render`` (mel [1, n_mels, T] -> wave [1, 1, T * hop], e.g. a ``Vocoder``) on real audio.

    recordings: mono waveforms [samples] at ``mel_config.sample_rate``; each is trimmed to whole
    hops, analysed to its mel, rendered from it and compared with itself. ``stft_distance``: the
    vocoder run's own (``model.stft_distance``), so every score of a model is on one scale.
    """
    hop = mel_config.hop_length
    scores = []
    for audio in recordings:
        frames = audio.shape[-1] // hop
        if frames < 1:
            continue
        real = audio[..., : frames * hop].reshape(1, 1, -1).float()
        mel = log_mel(real[:, 0], mel_config)  # [1, n_mels, frames]
        with torch.inference_mode():
            fake = render(mel)
            scores.append(
                score_rendering(fake, real, mel, mel_config=mel_config, stft_distance=stft_distance)
            )
    if not scores:
        raise ValueError("no recording long enough to score a vocoder on")
    return VocoderQuality(
        mel_l1=float(torch.stack([s.mel_l1 for s in scores]).mean()),
        mstft=float(torch.stack([s.mstft for s in scores]).mean()),
        files=len(scores),
    )
