"""Pitch from a log-mel, and the harmonic pattern a pitch leaves in one.

A harmonic sound at f0 puts a comb of partials into the magnitude spectrum; the mel's low bands
resolve its first harmonics as a pattern of peaks and troughs across bands, which a 2-D decoder
(the same filters at every frequency) would have to place exactly to sound pitched, and which an
autoencoder trained for minutes averages into a wash instead (docs/DESIGN.md "Pitch").
``candidate_patterns`` renders that pattern for every candidate f0 (the mel of a flat-envelope
harmonic comb relative to the same energy spread evenly), and ``track_pitch`` finds each frame's f0
by matching them against the mel's fine structure: subharmonic summation with mean-free patterns,
so half and double the true f0 score lower than it. All in the mel, so any mel (a recording's, a
decoded one) can be tracked, and a code grid needs nothing beside its codes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from distill.audio.mel import MelConfig, mel_filterbank

F0_MIN = 50.0
# The tracker's highest candidate: the top of a piano (C8 = 4186 Hz), most instruments, whistles.
# Up to 1200 Hz, piano notes from A6 up were tracked an octave or two low.
F0_MAX = 4400.0
# What the RVQ-VAE's pitch head decodes (model.net.decoder.pitch_f0_max): 1200 Hz, by measurement.
# 4400 Hz tracked the high piano notes right, and scored no better (model/vqvae.yaml).
CODES_F0_MAX = 1200.0
STEPS_PER_OCTAVE = 48  # quarter-semitone candidates
# Harmonics are rendered up to 6 kHz (above it the mel bands are wider than a low f0's spacing:
# nothing resolved), and for a higher f0 up to its second harmonic at least (a high note's partials
# are many bands apart: each one is a line to place).
MAX_HARMONIC_HZ = 6000.0
MIN_HARMONICS = 2.5
# A harmonic's magnitude lobe in the 2048-sample Hann STFT: half-amplitude width of about 2 bins.
_LOBE_SIGMA_BINS = 0.85
_ENVELOPE_BANDS = 9  # fine structure = the log-mel minus its moving average over this many bands


def candidate_f0(config: MelConfig = MelConfig(), f0_max: float = F0_MAX) -> torch.Tensor:
    """[P] Hz, F0_MIN to ``f0_max`` in STEPS_PER_OCTAVE steps per octave."""
    n = int(math.floor(math.log2(f0_max / F0_MIN) * STEPS_PER_OCTAVE)) + 1
    return (F0_MIN * 2.0 ** (torch.arange(n, dtype=torch.float64) / STEPS_PER_OCTAVE)).float()


def _harmonic_patterns(f0: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """[P] Hz -> [P, n_mels]: log of a flat harmonic comb's mel over the same energy spread evenly."""
    fb = mel_filterbank(config).double()  # [n_mels, n_freqs]
    bin_hz = config.sample_rate / config.n_fft
    freqs = torch.arange(fb.shape[1], dtype=torch.float64) * bin_hz
    f0 = f0.double()[:, None]  # [P, 1]
    in_range = (freqs <= torch.clamp(MIN_HARMONICS * f0, min=MAX_HARMONIC_HZ)).double()  # [P, n_freqs]
    nearest = torch.clamp(torch.round(freqs / f0), min=1.0)  # each bin's nearest harmonic (k >= 1)
    distance = (freqs - nearest * f0) / bin_hz  # in bins
    comb = torch.exp(-0.5 * (distance / _LOBE_SIGMA_BINS) ** 2) * in_range
    even = math.sqrt(2 * math.pi) * _LOBE_SIGMA_BINS * bin_hz / f0 * in_range  # a lobe's area per f0
    comb_mel, even_mel = comb @ fb.T, even @ fb.T  # [P, n_mels]
    floor = 1e-3 * even_mel.amax(-1, keepdim=True)
    pattern = torch.log((comb_mel + floor) / (even_mel + floor))
    return (pattern * (even_mel > 1e-6 * even_mel.amax(-1, keepdim=True))).float()


@functools.lru_cache(maxsize=4)
def candidate_patterns(config: MelConfig = MelConfig(), f0_max: float = F0_MAX) -> torch.Tensor:
    """[P, n_mels] the harmonic pattern of each ``candidate_f0`` (0 in the bands it does not resolve)."""
    with torch.inference_mode(False):  # cached: must not be an inference tensor (see mel._cached_tensor)
        return _harmonic_patterns(candidate_f0(config, f0_max), config)


def harmonic_pattern(f0_hz: float, config: MelConfig = MelConfig()) -> torch.Tensor:
    """[n_mels] the harmonic pattern of one f0, as ``candidate_patterns`` renders each candidate's:
    a note asked for at any tuning, not only on the candidates' quarter-semitone grid."""
    return _harmonic_patterns(torch.tensor([float(f0_hz)]), config)[0]


@functools.lru_cache(maxsize=4)
def _matching_patterns(config: MelConfig, f0_max: float) -> torch.Tensor:
    """[P, n_mels] the patterns' fine structure, unit norm: what a frame's fine structure is matched to."""
    with torch.inference_mode(False):
        fine = fine_structure(candidate_patterns(config, f0_max).T.unsqueeze(0)).squeeze(0).T
        return fine / fine.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def fine_structure(log_mel: torch.Tensor) -> torch.Tensor:
    """[B, n_mels, T] -> the same minus its moving average across bands (the envelope)."""
    b, m, t = log_mel.shape
    x = log_mel.transpose(1, 2).reshape(b * t, 1, m)
    pad = F.pad(x, (_ENVELOPE_BANDS // 2,) * 2, mode="replicate")
    return (x - F.avg_pool1d(pad, _ENVELOPE_BANDS, stride=1)).reshape(b, t, m).transpose(1, 2)


@dataclass(frozen=True)
class PitchTrack:
    candidate: torch.Tensor  # [B, T] long: index into candidate_f0(config, f0_max)
    confidence: torch.Tensor  # [B, T] in [0, 1]: how harmonic the frame is (0: not at all)
    f0_max: float = F0_MAX  # the candidates it chose from

    def f0(self, config: MelConfig = MelConfig()) -> torch.Tensor:
        """[B, T] Hz."""
        return candidate_f0(config, self.f0_max).to(self.candidate.device)[self.candidate]

    def pattern(self, config: MelConfig = MelConfig()) -> torch.Tensor:
        """[B, n_mels, T]: each frame's harmonic pattern, scaled by its confidence."""
        patterns = candidate_patterns(config, self.f0_max).to(self.candidate.device)
        return (patterns[self.candidate] * self.confidence[..., None]).transpose(1, 2)


@torch.no_grad()
def track_pitch(
    log_mel: torch.Tensor, config: MelConfig = MelConfig(), *, f0_max: float = F0_MAX
) -> PitchTrack:
    """[B, n_mels, T] -> each frame's best-matching candidate (F0_MIN to ``f0_max``) and its
    confidence: the normalised correlation of the frame's fine structure with the candidate's, below
    0 clamped to 0."""
    patterns = _matching_patterns(config, float(f0_max)).to(log_mel.device)
    # In float32 even under mixed precision: bfloat16 scores would tie neighbouring candidates, and
    # training would then see other pitches than inference for the same mel.
    with torch.autocast(device_type=log_mel.device.type, enabled=False):
        fine = fine_structure(log_mel.float())
        fine = fine * (patterns.abs().sum(0) > 0)[None, :, None]  # the bands some candidate resolves
        norm = fine.norm(dim=1).clamp_min(1e-6)  # [B, T]
        scores = torch.einsum("pm,bmt->bpt", patterns, fine) / norm[:, None]
    best, index = scores.max(dim=1)
    return PitchTrack(candidate=index, confidence=best.clamp(0.0, 1.0), f0_max=float(f0_max))
