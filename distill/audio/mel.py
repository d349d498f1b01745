"""The canonical log-mel spectrogram (BigVGAN-v2 44 kHz / 128-band / 512x definition).

Every model in distill consumes exactly this mel, so a per-model HiFi-GAN and a universal
BigVGAN are interchangeable without any adapter. Computed with ``torch.stft`` (torchaudio does
not import with our torch) and differentiable, so the vocoder's mel loss uses the same code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True, kw_only=True)
class MelConfig:
    """Mel parameters; the defaults are the fixed distill representation (docs/DESIGN.md)."""

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int = 2048
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None  # None = sample_rate / 2
    log_floor: float = 1e-5

    @property
    def fmax(self) -> float:
        return self.sample_rate / 2 if self.f_max is None else self.f_max

    def fingerprint(self) -> str:
        """Short stable hash of every field: part of the mel-cache key."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _hz_to_mel_slaney(hz: torch.Tensor) -> torch.Tensor:
    # Slaney scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    mels = hz / f_sp
    log_region = hz >= min_log_hz
    return torch.where(log_region, min_log_mel + torch.log(hz.clamp_min(1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz_slaney(mels: torch.Tensor) -> torch.Tensor:
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    return torch.where(log_region, min_log_hz * torch.exp(logstep * (mels - min_log_mel)), freqs)


def _cached_tensor(function):
    """``functools.lru_cache`` for a function returning a constant tensor, which it makes outside
    inference mode: a tensor first made under ``torch.inference_mode`` (while rendering, which
    re-analyses its own output) and then cached would break autograd in every later training step
    that reads it ("Inference tensors cannot be saved for backward")."""

    @functools.lru_cache(maxsize=8)
    @functools.wraps(function)
    def cached(*args):
        with torch.inference_mode(False):
            return function(*args)

    return cached


@_cached_tensor
def mel_filterbank(config: MelConfig) -> torch.Tensor:
    """Slaney-scale, slaney-normalised triangular filters, shape [n_mels, n_fft // 2 + 1].

    Computed in float64 and matched against ``librosa.filters.mel(htk=False, norm="slaney")``
    in the tests; cached because it never changes for a given config.
    """
    n_freqs = config.n_fft // 2 + 1
    fft_freqs = torch.linspace(0, config.sample_rate / 2, n_freqs, dtype=torch.float64)
    mel_min = _hz_to_mel_slaney(torch.tensor(config.f_min, dtype=torch.float64))
    mel_max = _hz_to_mel_slaney(torch.tensor(config.fmax, dtype=torch.float64))
    mel_points = torch.linspace(mel_min.item(), mel_max.item(), config.n_mels + 2, dtype=torch.float64)
    hz_points = _mel_to_hz_slaney(mel_points)
    fdiff = hz_points[1:] - hz_points[:-1]  # [n_mels + 1]
    ramps = hz_points[:, None] - fft_freqs[None, :]  # [n_mels + 2, n_freqs]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    # Slaney normalisation: each filter has (approximately) constant energy per band.
    enorm = 2.0 / (hz_points[2:] - hz_points[:-2])
    return (weights * enorm[:, None]).to(torch.float32)


@_cached_tensor
def _hann_window(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length)


def log_mel(audio: torch.Tensor, config: MelConfig = MelConfig()) -> torch.Tensor:
    """Log-mel of mono audio at ``config.sample_rate``.

    audio: [T] or [B, T] (or [B, 1, T]) float waveform in [-1, 1].
    returns: [n_mels, T // hop] or [B, n_mels, T // hop] natural-log magnitudes.
    Needs T >= hop; callers pad audio to a multiple of hop so that frames * hop == samples.

    Reflect-pads (n_fft - hop) / 2 on both sides and uses center=False, so a signal of
    k * hop samples gives exactly k frames, aligned so frame i covers samples around i * hop.
    """
    squeeze = audio.dim() == 1
    if audio.dim() == 3:
        audio = audio.squeeze(1)
    if squeeze:
        audio = audio.unsqueeze(0)
    if audio.shape[-1] < config.hop_length:
        raise ValueError(f"log_mel needs at least {config.hop_length} samples, got {audio.shape[-1]}")
    pad = (config.n_fft - config.hop_length) // 2
    # reflect needs pad < length; tiny clips fall back to zero padding (still frame-exact).
    mode = "reflect" if audio.shape[-1] > pad else "constant"
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (pad, pad), mode=mode).squeeze(1)
    window = _hann_window(config.win_length).to(device=audio.device, dtype=audio.dtype)
    spec = torch.stft(
        padded,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)  # [B, F, frames]
    fbank = mel_filterbank(config).to(device=audio.device, dtype=magnitude.dtype)
    mel = torch.log(torch.clamp(fbank @ magnitude, min=config.log_floor))
    return mel.squeeze(0) if squeeze else mel


def silence_frame(config: MelConfig = MelConfig()) -> torch.Tensor:
    """The log-mel column of digital silence, [n_mels]: what padding frames hold."""
    return log_mel(torch.zeros(config.n_fft * 2), config)[:, 0].clone()
