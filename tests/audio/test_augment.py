import torch

from distill.audio.augment import WaveAugment


def make(**overrides) -> WaveAugment:
    options = dict(
        sample_rate=44100,
        max_gain_db=6.0,
        max_shift_ms=20.0,
        polarity_prob=0.5,
        eq_prob=0.5,
        max_eq_tilt_db=3.0,
        noise_prob=0.5,
        noise_snr_db=(35.0, 50.0),
        max_rate_change=0.0,
        mix_prob=0.0,
        mix_gain_db=(-12.0, 0.0),
    )
    options.update(overrides)
    return WaveAugment(**options)


def test_same_seed_same_result_and_length_kept():
    audio = torch.randn(8192) * 0.1
    augment = make()
    first = augment(audio, torch.Generator().manual_seed(3))
    second = augment(audio, torch.Generator().manual_seed(3))
    other = augment(audio, torch.Generator().manual_seed(4))
    assert first.shape == audio.shape and torch.equal(first, second) and not torch.equal(first, other)


def test_everything_off_is_identity():
    audio = torch.randn(4096)
    augment = make(max_gain_db=0.0, max_shift_ms=0.0, polarity_prob=0.0, eq_prob=0.0, noise_prob=0.0)
    assert torch.equal(augment(audio, torch.Generator().manual_seed(0)), audio)


def test_gain_stays_within_bounds_and_polarity_flips():
    audio = torch.ones(1000) * 0.1
    gain_only = make(max_shift_ms=0.0, polarity_prob=0.0, eq_prob=0.0, noise_prob=0.0)
    for seed in range(20):
        ratio = gain_only(audio, torch.Generator().manual_seed(seed))[0] / 0.1
        assert 10 ** (-6 / 20) - 1e-6 <= ratio <= 10 ** (6 / 20) + 1e-6
    flip = make(max_gain_db=0.0, max_shift_ms=0.0, polarity_prob=1.0, eq_prob=0.0, noise_prob=0.0)
    assert torch.equal(flip(audio, torch.Generator().manual_seed(0)), -audio)


def test_shift_fills_with_zeros_instead_of_wrapping():
    audio = torch.zeros(44100)
    audio[-10:] = 1.0  # a click at the very end must never wrap round to the start
    shift = make(max_gain_db=0.0, polarity_prob=0.0, eq_prob=0.0, noise_prob=0.0, max_shift_ms=20.0)
    for seed in range(10):
        out = shift(audio, torch.Generator().manual_seed(seed))
        assert out[:800].abs().sum() == 0
        assert out.abs().sum() <= 10  # shifted later: the click falls off the end, never wraps


def test_rate_change_moves_pitch_and_keeps_length():
    t = torch.arange(44100) / 44100
    tone = torch.sin(2 * torch.pi * 1000 * t) * 0.5
    changed = make(
        max_gain_db=0, max_shift_ms=0, polarity_prob=0, eq_prob=0, noise_prob=0, max_rate_change=0.06
    )
    pitches = set()
    for seed in range(6):
        out = changed(tone, torch.Generator().manual_seed(seed))
        assert out.shape == tone.shape
        spectrum = torch.fft.rfft(out[:22050]).abs()
        pitches.add(int(spectrum.argmax()) * 2)  # Hz: 22050-sample frames have 2 Hz bins
    assert len(pitches) > 3 and all(1000 / 1.07 < hz < 1000 * 1.07 for hz in pitches)


def test_mixing_adds_a_second_clip_and_never_clips():
    mixer = make(mix_prob=1.0, mix_gain_db=(0.0, 0.0))
    assert mixer.wants_partner(torch.Generator().manual_seed(0))
    assert not make(mix_prob=0.0).wants_partner()
    a, b = torch.full((100,), 0.8), torch.full((100,), 0.6)
    mixed = mixer.mix(a, b)
    assert mixed.abs().max() <= 1.0 and torch.allclose(mixed, (a + b) / 1.4)
    quiet = make(mix_prob=1.0, mix_gain_db=(-20.0, -20.0)).mix(a * 0.5, b)
    assert torch.allclose(quiet, a * 0.5 + b * 0.1)
