"""What generated sound is compared on: log-mel frame statistics and the shape of each sound.

Frame statistics: every sounding frame of a set of clips (frames within ``SOUNDING_DROP`` of their
clip's loudest, so the silence after a one-shot, which every set shares, does not count) as a
``POOLED_BANDS``-band log-mel vector; a set is their mean and covariance, and two sets are as far
apart as the Fréchet distance between the Gaussians (the FID/FAD recipe: Heusel et al. 2017,
Kilgour et al. 2019). Bands are pooled from the 128 of the mel because a small collection has a
few thousand frames: 32 dimensions keep the covariance estimate stable at that count.

These are the evaluation's secondary measures: what a sound is, texture included, is measured on
a pretrained sound-effects embedding whose wheel carries its weights (``embedding``, scored stage
by stage in ``stages``). Frame statistics miss texture: a snare's grain smoothed into an averaged
surface keeps its spectral balance.

Frame statistics see spectral balance, not what a sound is (a folder of keyboard clicks measured
closer to a drum kit than another drum kit did), so each sound's shape is compared beside them:
its length, its onset strength (the largest frame-to-frame rise of the log-mel, mean over bands,
with silence before and after the clip: a hit that starts at the file's first sample has an onset,
and the analysis window running past the clip's end adds none; bands are floored 60 dB below the
clip's loudest, as onset detectors do, so faint leakage rising out of digital silence is no
onset) and its envelope's crest factor (peak over RMS of the frame envelope, in dB: high for a hit, low
for a drone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from distill.audio.envelope import frame_levels
from distill.audio.mel import MelConfig, log_mel

POOLED_BANDS = 32
SOUNDING_DROP = math.log(1000.0)  # 60 dB below the clip's loudest frame


def _mel(samples: np.ndarray, mel_config: MelConfig) -> torch.Tensor:
    audio = torch.from_numpy(np.asarray(samples, dtype=np.float32))
    if audio.shape[-1] < mel_config.hop_length:
        audio = torch.nn.functional.pad(audio, (0, mel_config.hop_length - audio.shape[-1]))
    return log_mel(audio, mel_config)  # [n_mels, F]


def sounding_frames(samples: np.ndarray, mel_config: MelConfig) -> np.ndarray:
    """The clip's sounding frames as pooled log-mel vectors, [frames, POOLED_BANDS] float64."""
    mel = _mel(samples, mel_config)
    levels = frame_levels(mel)
    keep = levels >= levels.max() - SOUNDING_DROP
    pooled = mel[:, keep].reshape(POOLED_BANDS, -1, int(keep.sum())).mean(dim=1)  # [bands, frames]
    return pooled.T.double().numpy()


@dataclass(frozen=True, kw_only=True)
class FrameStatistics:
    """Mean and covariance of a set's sounding frames."""

    mean: np.ndarray  # [D]
    covariance: np.ndarray  # [D, D]
    frames: int

    @classmethod
    def of(cls, clips: Sequence[np.ndarray], mel_config: MelConfig) -> FrameStatistics:
        frames = np.concatenate([sounding_frames(clip, mel_config) for clip in clips])
        if len(frames) < 2:
            raise ValueError("frame statistics need at least two sounding frames")
        return cls(mean=frames.mean(axis=0), covariance=np.cov(frames, rowvar=False), frames=len(frames))


def frechet_distance(a: FrameStatistics, b: FrameStatistics) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)); 0 for a set against itself.

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of
    S_a^(1/2) S_b S_a^(1/2), which is symmetric, so only symmetric eigendecompositions are needed.
    """
    values, vectors = np.linalg.eigh(a.covariance)
    root_a = (vectors * np.sqrt(values.clip(min=0.0))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ b.covariance @ root_a)
    trace_root = float(np.sqrt(middle.clip(min=0.0)).sum())
    difference = a.mean - b.mean
    distance = float(
        difference @ difference + np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_root
    )
    return max(distance, 0.0)


@dataclass(frozen=True, kw_only=True)
class SoundShape:
    """One sound's length, attack and envelope crest factor."""

    duration_s: float
    onset_strength: float  # nats per frame
    crest_db: float

    @classmethod
    def of(cls, samples: np.ndarray, mel_config: MelConfig) -> SoundShape:
        quiet = np.zeros(mel_config.n_fft, dtype=np.float32)
        mel = _mel(np.concatenate([quiet, np.asarray(samples, dtype=np.float32), quiet]), mel_config)
        mel = mel.clamp_min(float(mel.max()) - SOUNDING_DROP)
        rise = (mel[:, 1:] - mel[:, :-1]).clamp_min(0).mean(dim=0) if mel.shape[1] > 1 else torch.zeros(1)
        hop = mel_config.hop_length
        x = np.asarray(samples, dtype=np.float64)
        frames = max(1, len(x) // hop)
        envelope = (
            np.sqrt(np.mean(x[: frames * hop].reshape(frames, -1) ** 2, axis=1))
            if len(x) >= hop
            else np.abs(x)
        )
        rms = math.sqrt(float(np.mean(envelope**2)))
        crest = 20 * math.log10(float(envelope.max()) / rms) if rms > 0 else 0.0
        return cls(
            duration_s=len(x) / mel_config.sample_rate,
            onset_strength=float(rise.max()),
            crest_db=crest,
        )


SHAPE_FIELDS = ("duration_s", "onset_strength", "crest_db")


@dataclass(frozen=True, kw_only=True)
class Spread:
    """A distribution in three numbers: median and the 10th and 90th percentiles."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        p10, p50, p90 = np.percentile(np.asarray(values, dtype=np.float64), [10, 50, 90])
        return cls(median=float(p50), low=float(p10), high=float(p90))

    def as_dict(self) -> dict[str, float]:
        return {"median": round(self.median, 4), "p10": round(self.low, 4), "p90": round(self.high, 4)}


def shape_spreads(shapes: Sequence[SoundShape]) -> dict[str, Spread]:
    """Each shape field's spread over a set of sounds."""
    return {name: Spread.of([getattr(shape, name) for shape in shapes]) for name in SHAPE_FIELDS}
