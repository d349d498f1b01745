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


def test_stft_distance_identical_is_zero_and_scaled_is_known():
    torch.manual_seed(0)
    metric = MultiResolutionSTFTDistance(resolutions=RESOLUTIONS)
    real = 0.1 * torch.randn(2, 1, 8192)
    same = metric(real, real)
    assert same.total.item() == 0.0
    doubled = metric(2 * real, real)
    # |S - 2S| / |S| = 1 and |log S - log 2S| = log 2 at every resolution
    assert doubled.spectral_convergence.item() == pytest.approx(1.0, rel=1e-4)
    assert doubled.log_magnitude.item() == pytest.approx(math.log(2), rel=1e-3)
    assert doubled.total.item() == pytest.approx(1.0 + math.log(2), rel=1e-3)
    with pytest.raises(ValueError):
        metric(real, real[..., :4096])


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
