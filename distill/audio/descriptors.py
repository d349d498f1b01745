"""What a sound designer asks of a sound, measured from its audio: how loud, how bright, how long,
how noisy, which note.

The prior is conditioned on these (``distill.nn.controls``), measured on every training sound and
every augmented take of it, so ``distill generate drums --brightness 0.8`` asks for a sound as
bright as the collection's brighter sounds, and the same measurement of what comes out tells how
well it followed (``experiments/control_sweep.py``). Each descriptor lives on a scale where equal
steps sound like equal steps (dB, octaves, semitones), and the collection's range on it is what
the controls' 0..1 means (``distill.audio.control_space``).

- loudness: RMS level of the loudest 400 ms, dBFS (momentary loudness, without the K-weighting);
- brightness: spectral centroid of the sounding frames, power-weighted, in octaves above 1 Hz;
- length: from the first to the last frame within 30 dB of the loudest one, in octaves of seconds;
- noisiness: spectral flatness of the mel, power-weighted, in dB (0 = white noise, -60 a few partials);
- pitch: median of the confidently pitched sounding frames (``distill.audio.mel_pitch``), as a
  MIDI note number; not measured (NaN) when under half the sounding frames are pitched or they
  spread more than a semitone either way, which is a drum hit or a chord, not a note.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from distill.audio.control_space import DESCRIPTORS
from distill.audio.mel import MelConfig, log_mel, mel_filterbank
from distill.audio.mel_pitch import track_pitch

__all__ = ["DESCRIPTORS", "describe"]

LOUDNESS_WINDOW_S = 0.4
SOUNDING_DB = 30.0  # frames within this much of the loudest frame are the sound itself
PITCH_CONFIDENCE = 0.5  # a frame whose fine structure matches a harmonic comb at least this well
PITCHED_SHARE = 0.5  # of the sounding frames, for the sound to have a pitch
PITCH_SPREAD = 1.0  # semitones: the pitched frames' interquartile half-range must be within this


def describe(
    audio: torch.Tensor, config: MelConfig = MelConfig(), *, mel: torch.Tensor | None = None
) -> np.ndarray:
    """audio [T] at ``config.sample_rate`` -> its descriptors in ``DESCRIPTORS`` order, float64 [5]
    (pitch NaN when it has none). ``mel``: its log-mel, when the caller has it already."""
    audio = audio.detach().float().cpu()
    if audio.numel() < config.hop_length:
        audio = torch.nn.functional.pad(audio, (0, config.hop_length - audio.numel()))
    if mel is None:
        mel = log_mel(audio, config)
    mel = mel.detach().float().cpu()
    power = mel.double().mul(2).exp()  # [n_mels, F] mel power
    frame_power = power.sum(0)  # [F]
    frame_db = 10 * torch.log10(frame_power.clamp_min(1e-20))
    sounding = frame_db >= frame_db.max() - SOUNDING_DB
    hop_seconds = config.hop_length / config.sample_rate
    return np.array(
        [
            _loudness(audio, config),
            _brightness(power[:, sounding], config),
            math.log2(max(_sounding_span(sounding), 1) * hop_seconds),
            10 * math.log10(max(_flatness(power[:, sounding]), 1e-12)),
            _pitch(mel, sounding, config),
        ]
    )


def _loudness(audio: torch.Tensor, config: MelConfig) -> float:
    hop = config.hop_length
    blocks = audio[: len(audio) // hop * hop].double().pow(2).reshape(-1, hop).mean(1)
    width = max(1, min(len(blocks), round(LOUDNESS_WINDOW_S * config.sample_rate / hop)))
    moving = torch.nn.functional.avg_pool1d(blocks[None, None], width, stride=1)[0, 0]
    return 10 * math.log10(max(float(moving.max()), 1e-12))


def _band_hz(config: MelConfig) -> torch.Tensor:
    """[n_mels] each mel band's centre: the mean frequency of its filter."""
    filters = mel_filterbank(config).double()
    freqs = torch.linspace(0, config.sample_rate / 2, filters.shape[1], dtype=torch.float64)
    return (filters @ freqs) / filters.sum(1).clamp_min(1e-12)


def _brightness(power: torch.Tensor, config: MelConfig) -> float:
    centroid = float((power.sum(1) @ _band_hz(config)) / power.sum().clamp_min(1e-20))
    return math.log2(max(centroid, 1.0))


def _sounding_span(sounding: torch.Tensor) -> int:
    frames = torch.nonzero(sounding)[:, 0]
    return int(frames[-1] - frames[0]) + 1


def _flatness(power: torch.Tensor) -> float:
    """Power-weighted mean over frames of geometric / arithmetic mean power across bands."""
    floor = power.new_tensor(1e-12)
    per_frame = power.clamp_min(floor).log().mean(0).exp() / power.mean(0).clamp_min(floor)  # [F]
    weights = power.sum(0)
    return float((per_frame * weights).sum() / weights.sum().clamp_min(1e-20))


def _pitch(mel: torch.Tensor, sounding: torch.Tensor, config: MelConfig) -> float:
    track = track_pitch(mel[None], config)
    f0 = track.f0(config)[0].double()
    pitched = sounding & (track.confidence[0] >= PITCH_CONFIDENCE)
    if int(pitched.sum()) < max(1, PITCHED_SHARE * int(sounding.sum())):
        return math.nan
    notes = 69 + 12 * torch.log2(f0[pitched] / 440.0)
    low, median, high = torch.quantile(notes, notes.new_tensor([0.25, 0.5, 0.75])).tolist()
    return median if (high - low) / 2 <= PITCH_SPREAD else math.nan
