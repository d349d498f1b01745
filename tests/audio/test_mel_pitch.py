import math

import pytest
import torch

from distill.audio.mel import log_mel
from distill.audio.mel_pitch import (
    CODES_F0_MAX,
    F0_MAX,
    F0_MIN,
    STEPS_PER_OCTAVE,
    candidate_f0,
    candidate_patterns,
    track_pitch,
)

RATE = 44100


def _harmonic_tone(f0: float, seconds: float = 0.6, partials: int = 30, seed: int = 0) -> torch.Tensor:
    """A tone with 1/k partials (a sawtooth-like spectrum) up to Nyquist, random phases."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE) // 512 * 512, dtype=torch.float64) / RATE
    tone = torch.zeros_like(t)
    for k in range(1, partials + 1):
        if k * f0 < RATE / 2:
            phase = float(torch.rand((), generator=generator, dtype=torch.float64)) * 2 * math.pi
            tone += torch.sin(2 * math.pi * k * f0 * t + phase) / k
    return (0.3 * tone / tone.abs().max()).float()


def _semitones(a: torch.Tensor, b: float) -> torch.Tensor:
    return 12 * torch.log2(a / b)


def test_candidates_span_the_range_in_quarter_semitones():
    f0 = candidate_f0()
    assert f0[0] == pytest.approx(F0_MIN) and f0[-1] <= F0_MAX < f0[-1] * 2 ** (1 / STEPS_PER_OCTAVE)
    steps = 12 * torch.log2(f0[1:] / f0[:-1])
    torch.testing.assert_close(steps, torch.full_like(steps, 12 / STEPS_PER_OCTAVE))


def test_a_pattern_has_peaks_at_its_harmonics_and_nothing_where_no_harmonic_is_resolved():
    f0 = candidate_f0()
    index = int((f0 - 200.0).abs().argmin())
    pattern = candidate_patterns()[index]
    assert pattern.shape == (128,)
    mel = log_mel(_harmonic_tone(float(f0[index])))[:, 5:-5].mean(-1)
    # where the pattern is clearly up (on a harmonic) the tone's mel is higher than where it is down
    fine = mel - torch.nn.functional.avg_pool1d(mel[None, None], 9, 1, 4, count_include_pad=False)[0, 0]
    assert fine[pattern > 0.5].mean() > fine[pattern < -0.5].mean() + 1.0
    assert (pattern[100:] == 0).all()  # above 6 kHz no harmonic of a low f0 is resolved


# Up to the top of a piano: above 1200 Hz the tracker used to answer an octave or two low.
@pytest.mark.parametrize("f0", [98.0, 196.0, 330.0, 523.0, 1480.0, 2093.0, 3520.0])
def test_tracks_a_harmonic_tone_within_a_semitone(f0):
    track = track_pitch(log_mel(_harmonic_tone(f0))[None])
    middle = slice(4, -4)  # away from the reflect-padded ends
    error = _semitones(track.f0()[0, middle], f0).abs()
    assert error.median() < 1.0
    assert track.confidence[0, middle].median() > 0.5


def test_noise_and_silence_are_not_confidently_pitched():
    noise = 0.1 * torch.randn(RATE // 2 // 512 * 512, generator=torch.Generator().manual_seed(1))
    tone = track_pitch(log_mel(_harmonic_tone(196.0))[None]).confidence[0, 4:-4].median()
    noisy = track_pitch(log_mel(noise)[None]).confidence[0, 4:-4].median()
    silent = track_pitch(log_mel(torch.zeros(RATE // 2 // 512 * 512))[None]).confidence
    assert noisy < tone - 0.2
    assert (silent == 0).all()


def test_the_pattern_is_zero_where_confidence_is_zero_and_batched():
    mel = torch.stack([log_mel(_harmonic_tone(196.0)), log_mel(torch.zeros(_harmonic_tone(196.0).shape))])
    track = track_pitch(mel)
    pattern = track.pattern()
    assert pattern.shape == mel.shape
    assert (pattern[1] == 0).all()
    assert pattern[0].abs().sum() > 0


def test_mixed_precision_training_tracks_the_same_pitch_as_inference():
    mel = torch.stack([log_mel(_harmonic_tone(f0, seed=3)) for f0 in (110.0, 247.0)])
    mel = mel + 0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(2))
    plain = track_pitch(mel)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = track_pitch(mel)
    assert torch.equal(mixed.candidate, plain.candidate)
    assert torch.equal(mixed.confidence, plain.confidence)


def test_a_high_pattern_has_its_second_harmonic_and_the_legacy_range_is_unchanged():
    f0 = candidate_f0()
    high = candidate_patterns()[int((f0 - 3520.0).abs().argmin())]
    mel = log_mel(_harmonic_tone(3520.0))[:, 5:-5].mean(-1)
    assert mel[high > 0.5].mean() > mel[high < -0.5].mean() + 1.0  # both partials below 8.8 kHz
    assert (high > 0.5).sum() >= 2
    # The RVQ-VAE's narrower range is the first candidates of the tracker's, with the same patterns.
    legacy = candidate_f0(f0_max=CODES_F0_MAX)
    assert len(legacy) == 221 and torch.equal(legacy, f0[: len(legacy)])
    torch.testing.assert_close(candidate_patterns(f0_max=CODES_F0_MAX), candidate_patterns()[: len(legacy)])
    tone = log_mel(_harmonic_tone(330.0))[None]
    assert track_pitch(tone, f0_max=CODES_F0_MAX).f0().shape == track_pitch(tone).f0().shape
    assert track_pitch(tone, f0_max=CODES_F0_MAX).pattern().shape == tone.shape
