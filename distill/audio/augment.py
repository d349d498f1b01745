"""Waveform augmentations for small sound collections.

With 5-20 recordings every model overfits fast; cheap, label-preserving changes of level,
timing, polarity and colour stretch the data without inventing new sounds. All randomness
comes from a ``torch.Generator`` handed in, so a seed reproduces an augmented batch exactly.
Validation never augments (the DataModule only passes an augmenter to the training set).
"""

from __future__ import annotations

import math

import numpy as np
import torch


class WaveAugment:
    """Random gain, small time shift, polarity flip and optional mild EQ tilt / noise; for the
    vocoder also a playback-rate change and mixing in a second clip.

    Args are the maximum strengths; a probability of 0 (or a range of 0) turns a part off.
    max_rate_change: playback at a rate in [1 / (1 + r), 1 + r] (pitch and time together, as a
        tape would), band-limited resampling; 0 = off.
    mix_prob: share of clips that get a second clip (from another file, augmented on its own)
        added at ``mix_gain_db`` relative level. Both invent sounds that are not in the collection,
        so they are for the vocoder (which must render any mel it is given: generation feeds it
        mixtures and in-between timbres), not for the models of the collection itself.
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        max_gain_db: float,
        max_shift_ms: float,
        polarity_prob: float,
        eq_prob: float,
        max_eq_tilt_db: float,
        noise_prob: float,
        noise_snr_db: tuple[float, float],
        max_rate_change: float,
        mix_prob: float,
        mix_gain_db: tuple[float, float],
    ) -> None:
        self.sample_rate = sample_rate
        self.max_gain_db = max_gain_db
        self.max_shift_ms = max_shift_ms
        self.polarity_prob = polarity_prob
        self.eq_prob = eq_prob
        self.max_eq_tilt_db = max_eq_tilt_db
        self.noise_prob = noise_prob
        self.noise_snr_db = tuple(noise_snr_db)
        self.max_rate_change = max_rate_change
        self.mix_prob = mix_prob
        self.mix_gain_db = tuple(mix_gain_db)

    def __call__(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """audio: [T] float waveform -> [T] augmented copy (same length)."""
        out = audio.clone()
        if self.max_rate_change > 0:
            out = self._change_rate(out, generator)
        if self.max_shift_ms > 0:
            out = self._shift(out, generator)
        if self.eq_prob > 0 and _uniform(generator) < self.eq_prob:
            out = self._eq_tilt(out, generator)
        if self.noise_prob > 0 and _uniform(generator) < self.noise_prob:
            out = self._add_noise(out, generator)
        if self.max_gain_db > 0:
            gain_db = (2 * _uniform(generator) - 1) * self.max_gain_db
            out = out * (10.0 ** (gain_db / 20))
        if self.polarity_prob > 0 and _uniform(generator) < self.polarity_prob:
            out = -out
        return out

    def wants_partner(self, generator: torch.Generator | None = None) -> bool:
        """Whether this clip gets a second one mixed in (drawn here, so the seed decides)."""
        return self.mix_prob > 0 and _uniform(generator) < self.mix_prob

    def mix(self, audio: torch.Tensor, partner: torch.Tensor, generator: torch.Generator | None = None):
        """audio + partner at a random relative level, scaled back below full scale if it clips."""
        low, high = self.mix_gain_db
        gain_db = low + (high - low) * _uniform(generator)
        mixed = audio + partner * (10.0 ** (gain_db / 20))
        peak = float(mixed.abs().max())
        return mixed / peak if peak > 1.0 else mixed

    def _change_rate(self, audio: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        log_range = math.log1p(self.max_rate_change)
        rate = math.exp((2 * _uniform(generator) - 1) * log_range)
        # Played `rate` times faster, the clip's length kept.
        changed = torch.from_numpy(play_at_rate(audio.numpy(), rate, self.sample_rate)).to(audio.dtype)
        out = torch.zeros_like(audio)
        n = min(len(out), len(changed))
        out[:n] = changed[:n]
        return out

    def _shift(self, audio: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # Shift with zero fill (not a circular roll): wrapping the tail of a drum hit to
        # before its attack would create a sound that never existed.
        max_shift = int(self.max_shift_ms * self.sample_rate / 1000)
        shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=generator))
        if shift == 0:
            return audio
        shifted = torch.zeros_like(audio)
        if shift > 0:
            shifted[shift:] = audio[:-shift]
        else:
            shifted[:shift] = audio[-shift:]
        return shifted

    def _eq_tilt(self, audio: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # A spectral tilt of at most +-max_eq_tilt_db between 100 Hz and Nyquist, linear in
        # log-frequency: the gentle colour change of a different mic or room, not a filter sweep.
        tilt_db = (2 * _uniform(generator) - 1) * self.max_eq_tilt_db
        spectrum = torch.fft.rfft(audio)
        freqs = torch.fft.rfftfreq(audio.shape[-1], d=1 / self.sample_rate).clamp_min(100.0)
        position = torch.log2(freqs / 100.0) / math.log2(self.sample_rate / 2 / 100.0)  # 0..1
        gain = 10.0 ** ((position - 0.5) * tilt_db / 20)
        return torch.fft.irfft(spectrum * gain, n=audio.shape[-1])

    def _add_noise(self, audio: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        low, high = self.noise_snr_db
        snr_db = low + (high - low) * _uniform(generator)
        signal_power = audio.pow(2).mean().clamp_min(1e-10)
        noise = torch.randn(audio.shape, generator=generator, dtype=audio.dtype)
        return audio + noise * torch.sqrt(signal_power / (10.0 ** (snr_db / 10)))


def _uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def play_at_rate(samples: np.ndarray, rate: float, sample_rate: int) -> np.ndarray:
    """samples [T] played ``rate`` times faster, as a tape or a sampler does: pitch up by
    12 log2(rate) semitones and length / rate (resampled to sample_rate / rate, soxr HQ)."""
    import soxr

    return soxr.resample(np.ascontiguousarray(samples), sample_rate, sample_rate / rate, quality="HQ")
