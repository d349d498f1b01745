"""The RVQ-VAE's mel patch discriminator and its losses, on random tensors."""

from __future__ import annotations

import pytest
import torch

from distill.nn.conv_codec import SILENCE_LOG_MEL
from distill.nn.gan_losses import adaptive_adversarial_weight, hinge_discriminator_loss, hinge_generator_loss
from distill.nn.mel_discriminator import MelPatchDiscriminator, MultiScaleMelDiscriminator


def test_each_scale_judges_patches_and_gives_its_layers_for_feature_matching() -> None:
    torch.manual_seed(0)
    disc = MultiScaleMelDiscriminator(scales=[1, 2], channels=[8, 16, 32], leaky_relu_slope=0.2)
    mel = torch.randn(3, 128, 96)
    result = disc(mel)
    # Three stride-2 layers: 128 x 96 -> 16 x 12 logits at scale 1, 8 x 6 at scale 2.
    assert [tuple(logits.shape) for logits in result.logits] == [(3, 16 * 12), (3, 8 * 6)]
    assert [len(layers) for layers in result.features] == [5, 5]  # 3 stride-2, one 3x3, the logits
    assert result.features[0][0].shape == (3, 8, 64, 48)


def test_a_crop_shorter_than_the_stride_stack_is_padded_with_silence_not_refused() -> None:
    disc = MelPatchDiscriminator(channels=[8, 16, 32], leaky_relu_slope=0.2)
    short = torch.full((2, 128, 3), SILENCE_LOG_MEL)
    assert disc(short)[-1].shape == (2, 1, 16, 1)


def test_every_convolution_is_spectrally_normalised() -> None:
    disc = MelPatchDiscriminator(channels=[8, 16], leaky_relu_slope=0.2)
    convs = [*disc.convs, disc.conv_post]
    assert all(hasattr(conv, "parametrizations") and "weight" in conv.parametrizations for conv in convs)


def test_hinge_losses() -> None:
    sure_real, sure_fake = [torch.full((2, 5), 2.0)], [torch.full((2, 5), -2.0)]
    assert float(hinge_discriminator_loss(sure_real, sure_fake)) == 0.0  # past the margin: no pull
    unsure = [torch.zeros(2, 5)]
    assert float(hinge_discriminator_loss(unsure, unsure)) == pytest.approx(2.0)
    # Summed over members; the generator's loss is minus the mean logit of each.
    two = [torch.full((1, 4), 0.5), torch.full((1, 9), -1.0)]
    assert float(hinge_generator_loss(two)) == pytest.approx(-0.5 + 1.0)
    with pytest.raises(ValueError):
        hinge_discriminator_loss(two, two[:1])


def test_the_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer() -> None:
    layer = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([0.6, 0.8])
    reconstruction, adversarial = (layer * a).sum(), (layer * b).sum()
    weight = adaptive_adversarial_weight(reconstruction, adversarial, layer, max_weight=1e4)
    assert float(weight) == pytest.approx(5.0 / (1.0 + 1e-4))  # |a| / (|b| + 1e-4)
    assert not weight.requires_grad
    # The graphs survive for the backward that follows; the clamp bounds a vanishing adversary.
    reconstruction.backward()
    tiny = (layer * 1e-12).sum()
    assert float(adaptive_adversarial_weight((layer * a).sum(), tiny, layer, max_weight=100.0)) == 100.0
