"""GAN losses and the multi-resolution STFT metric on tensors with known answers."""

import math

import pytest
import torch

from distill.audio.mel import log_mel
from distill.nn.gan_losses import (
    MultiResolutionSTFTDistance,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)

RESOLUTIONS = [[512, 128, 512], [1024, 256, 1024], [2048, 512, 2048]]


def _logits(fill: float) -> list[torch.Tensor]:
    # Three sub-discriminators with different output lengths, as in a real MPD/MSD.
    return [torch.full((2, n), fill) for n in (5, 9, 13)]


def test_discriminator_loss_is_zero_when_perfect_and_known_otherwise():
    perfect = discriminator_loss(_logits(1.0), _logits(0.0))
    assert perfect.total.item() == 0.0
    assert perfect.real.shape == perfect.fake.shape == (3,)
    fooled = discriminator_loss(_logits(0.0), _logits(1.0))
    assert fooled.total.item() == pytest.approx(6.0)  # (1 + 1) per sub-discriminator
    undecided = discriminator_loss(_logits(0.5), _logits(0.5))
    torch.testing.assert_close(undecided.real, torch.full((3,), 0.25))
    torch.testing.assert_close(undecided.fake, torch.full((3,), 0.25))
    assert undecided.total.item() == pytest.approx(1.5)


def test_discriminator_loss_rejects_mismatched_lists():
    with pytest.raises(ValueError):
        discriminator_loss(_logits(1.0), _logits(0.0)[:2])


def test_generator_adversarial_loss():
    assert generator_adversarial_loss(_logits(1.0)).item() == 0.0
    assert generator_adversarial_loss(_logits(0.0)).item() == pytest.approx(3.0)
    assert generator_adversarial_loss(_logits(-1.0)).item() == pytest.approx(12.0)  # (1 - (-1))^2 * 3


def _features() -> list[list[torch.Tensor]]:
    torch.manual_seed(0)
    return [[torch.randn(2, 4, 10), torch.randn(2, 8, 5), torch.randn(2, 1, 5)], [torch.randn(2, 4, 3, 2)]]


def test_feature_matching_identical_is_zero_and_offset_is_known():
    real = _features()
    assert feature_matching_loss(real, real).item() == 0.0
    offset = [[f + 0.3 for f in layers] for layers in real]
    # mean |0.3| per layer, summed over the 4 layers of all sub-discriminators
    assert feature_matching_loss(real, offset).item() == pytest.approx(4 * 0.3, rel=1e-5)


def test_feature_matching_trains_only_the_generator_side():
    real = [[f.requires_grad_() for f in layers] for layers in _features()]
    fake = [[torch.zeros_like(f, requires_grad=True) for f in layers] for layers in real]
    feature_matching_loss(real, fake).backward()
    assert all(f.grad is None for layers in real for f in layers)
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for layers in fake for f in layers)


def test_mel_l1_loss():
    torch.manual_seed(0)
    real = 0.1 * torch.randn(2, 1, 8 * 512)
    target = log_mel(real)  # [2, 128, 8]
    assert mel_l1_loss(real, target).item() == 0.0
    fake = 0.5 * real
    expected = (log_mel(fake) - target).abs().mean()
    assert mel_l1_loss(fake, target).item() == pytest.approx(expected.item())
    # halving the amplitude lowers every (unclamped) log-mel bin by log 2
    assert mel_l1_loss(fake, target).item() == pytest.approx(math.log(2), rel=1e-2)
    with pytest.raises(ValueError):
        mel_l1_loss(fake, target[:, :, :4])


def _distance() -> MultiResolutionSTFTDistance:
    return MultiResolutionSTFTDistance(resolutions=RESOLUTIONS, floor_db=-60.0, silence_db=-100.0)


def test_stft_distance_identical_is_zero_and_scaled_is_known():
    torch.manual_seed(0)
    metric = _distance()
    real = 0.1 * torch.randn(2, 1, 8192)
    same = metric(real, real)
    assert same.total.item() == 0.0
    doubled = metric(2 * real, real)
    # |S - 2S| / (|S| + |2S|) = 1/3, and |log 2S - log S| = log 2 on every bin well above the floor
    assert doubled.spectral_convergence.item() == pytest.approx(1 / 3, rel=1e-4)
    assert doubled.log_magnitude.item() == pytest.approx(math.log(2), rel=1e-2)
    with pytest.raises(ValueError):
        metric(real, real[..., :4096])


SR = 44100


def _organ(peak_db: float, *, lead_s: float = 0.0, trail_s: float = 0.0, tail_s: float = 0.0) -> torch.Tensor:
    """A held organ chord (1 s) then an exponential release over tail_s, with digital silence
    before and after; peak at peak_db dBFS. [1, 1, T]"""
    t = torch.arange(int((1.0 + tail_s) * SR)) / SR
    envelope = torch.where(t < 1.0, torch.ones_like(t), torch.exp(-(t - 1.0) / 0.8))
    wave = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((110.0, 220.0, 330.0, 550.0), 1))
    wave = wave * envelope
    wave = wave / wave.abs().max() * 10 ** (peak_db / 20)
    silence = (torch.zeros(int(lead_s * SR)), torch.zeros(int(trail_s * SR)))
    return torch.cat([silence[0], wave, silence[1]]).view(1, 1, -1)


def _render(real: torch.Tensor, *, error: float, seed: int = 0) -> torch.Tensor:
    """A vocoder-like rendering: slightly off in level and timing, plus noise shaped like the sound
    (``error`` of its amplitude), so it sits at the sound's level wherever the sound is."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(real.shape, generator=generator)
    return 0.97 * torch.roll(real, 3, dims=-1) + error * noise * real.abs()


def test_stft_distance_ignores_level():
    metric = _distance()
    quiet = _organ(-30.0, tail_s=2.0)
    full = quiet / quiet.abs().max()  # the same pair at 0 dBFS peak
    distance = metric(_render(quiet, error=0.1), quiet).total.item()
    assert distance > 0.05  # a real difference, not a floor artefact
    assert distance == pytest.approx(metric(_render(full, error=0.1), full).total.item(), rel=1e-3)


def test_stft_distance_ignores_digital_silence_and_a_very_quiet_tail():
    metric = _distance()
    sound = _organ(-30.0)
    base = metric(_render(sound, error=0.1), sound).total.item()
    # One second of digital silence at both ends, rendered as a vocoder renders silence: a little
    # numerical noise (here at -130 dBFS).
    padded = _organ(-30.0, lead_s=1.0, trail_s=1.0)
    hiss = 10 ** (-130 / 20) * torch.randn(padded.shape, generator=torch.Generator().manual_seed(1))
    assert metric(_render(padded, error=0.1) + hiss, padded).total.item() == pytest.approx(base, rel=0.1)
    # A release that decays 80 dB over 7 s: mostly far below the sound, rendered as badly as the rest.
    tailed = _organ(-30.0, tail_s=7.0)
    assert metric(_render(tailed, error=0.1), tailed).total.item() == pytest.approx(base, rel=0.25)
    # Rendered with a -100 dBFS noise floor, the silence and the tail still change it little.
    for real in (padded, tailed):
        hiss = 1e-5 * torch.randn(real.shape, generator=torch.Generator().manual_seed(3))
        assert metric(_render(real, error=0.1) + hiss, real).total.item() == pytest.approx(base, rel=0.25)


def test_stft_distance_is_bounded_on_silence():
    metric = _distance()
    silence = torch.zeros(1, 1, 16384)
    sound = 0.3 * torch.randn(1, 1, 16384, generator=torch.Generator().manual_seed(2))
    ceiling = 1 + math.log(1 + 10**3)  # spectral convergence <= 1, log magnitude <= ln(1 + 1/floor)
    assert metric(silence, silence).total.item() == 0.0
    for fake, real in ((sound, silence), (silence, sound), (1e-4 * sound, silence)):
        distance = metric(fake, real)
        assert torch.isfinite(distance.total) and 0 <= distance.total.item() <= ceiling
        assert distance.spectral_convergence.item() <= 1.0 + 1e-5
    assert metric(sound, silence).spectral_convergence.item() > 0.99  # sound where silence was: all wrong
    # Below -100 dBFS is silence: silence rendered with -140 dBFS noise is nearly right.
    assert metric(1e-7 / 0.3 * sound, silence).total.item() < 0.05


def test_stft_distance_ranks_a_worse_rendering_worse_and_trains_with_finite_gradients():
    metric = _distance()
    real = _organ(-30.0, lead_s=0.2, tail_s=2.0)
    distances = [metric(_render(real, error=error), real).total.item() for error in (0.0, 0.05, 0.3, 1.0)]
    assert distances == sorted(distances) and distances[-1] > 2 * distances[1]
    # A batch of training crops with one of digital silence: every gradient finite, the sound's nonzero.
    crops = torch.cat([real[..., 8192:16384], torch.zeros(1, 1, 8192)])  # [2, 1, 8192]
    fake = (0.5 * crops + 1e-3 * torch.randn(crops.shape)).requires_grad_(True)
    metric(fake, crops).total.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad[0].abs().sum() > 0


def test_phase_loss_is_zero_for_the_real_phase_and_sees_what_magnitudes_miss():
    from distill.nn.gan_losses import PhaseLoss

    loss = PhaseLoss(n_fft=2048, hop_length=512, floor_db=-60.0)
    t = torch.arange(16 * 512) / 44100
    real = (0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.2 * torch.sin(2 * torch.pi * 1234 * t)).view(1, 1, -1)
    assert float(loss(real, real)) == pytest.approx(0.0, abs=1e-4)
    # The same magnitudes with the partials' phases moved: a magnitude loss cannot tell, this can.
    shifted = (
        0.3 * torch.sin(2 * torch.pi * 440 * t + 1.0) + 0.2 * torch.sin(2 * torch.pi * 1234 * t - 2.0)
    ).view(1, 1, -1)
    assert float(loss(shifted, real)) > 0.5
    fake = shifted.clone().requires_grad_(True)
    loss(fake, real).backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
