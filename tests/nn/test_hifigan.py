"""HiFi-GAN V2 generator: shapes, size, weight-norm removal, receptive field, frozen inference form."""

import pytest
import torch
from conftest import NARROW_V2

from distill.nn.hifigan import FrozenHifiGan, HifiGanGenerator

V2 = {**NARROW_V2, "upsample_initial_channel": 128}


def _lively_generator(*, width: int = 128, seed: int = 0) -> HifiGanGenerator:
    """V2 (optionally narrower: same layers, hop and receptive field) with its N(0, 0.01) init
    scaled up, so outputs are O(0.1) instead of O(1e-5) and numerical comparisons mean something."""
    torch.manual_seed(seed)
    gen = HifiGanGenerator(**{**V2, "upsample_initial_channel": width})
    with torch.no_grad():
        for conv in gen._convs():
            if conv is not gen.conv_pre:
                conv.parametrizations.weight.original0.mul_(8.0 if width == 128 else 16.0)
    return gen


@pytest.mark.parametrize("frames", [1, 7, 32])
def test_output_is_frames_times_hop(frames):
    gen = HifiGanGenerator(**V2)
    wave = gen(torch.randn(2, 128, frames))
    assert gen.hop_length == 512
    assert wave.shape == (2, 1, frames * 512)
    assert wave.abs().max() <= 1.0  # tanh output


def test_v2_parameter_count():
    gen = HifiGanGenerator(**V2)
    gen.remove_weight_norm()
    n = sum(p.numel() for p in gen.parameters())
    assert n == 971_041  # exact V2 size for 128 mel bands; pin it so accidental changes show
    assert abs(n - 0.93e6) / 0.93e6 < 0.10


def test_remove_weight_norm_keeps_outputs():
    gen = _lively_generator().eval()
    mel = torch.randn(1, 128, 8)
    with torch.no_grad():
        before = gen(mel)
        gen.remove_weight_norm()
        after = gen(mel)
        gen.remove_weight_norm()  # idempotent
        again = gen(mel)
    assert before.abs().max() > 0.1
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, after, atol=0, rtol=0)
    assert not any("parametrizations" in key for key in gen.state_dict())


def test_all_parameters_receive_gradients():
    gen = HifiGanGenerator(**V2)
    gen(torch.randn(1, 128, 4)).pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())


def test_receptive_field_bounds_the_true_dependency():
    gen = _lively_generator(width=32).eval()  # the receptive field depends on layout, not width
    rf = gen.receptive_field_frames()
    frames, centre = 61, 30
    mel = torch.randn(1, 128, frames, requires_grad=True)
    gen(mel)[0, 0, centre * 512 + 256].backward()
    touched = (mel.grad.abs().sum(dim=1)[0] > 0).nonzero().flatten()
    reach = max(centre - touched.min().item(), touched.max().item() - centre)
    assert reach <= rf
    assert reach >= rf - 4  # and the bound is not wildly loose (V2: true 12, bound 15)


def test_rejects_inconsistent_sizes():
    with pytest.raises(ValueError):
        HifiGanGenerator(**{**V2, "upsample_kernel_sizes": [16, 16, 8]})
    with pytest.raises(ValueError):
        HifiGanGenerator(**{**V2, "upsample_kernel_sizes": [15, 16, 8, 4]})
    with pytest.raises(ValueError):
        HifiGanGenerator(**{**V2, "resblock_dilations": [[1, 3, 5]] * 2})


@pytest.mark.parametrize("width", [128, 32])
@pytest.mark.parametrize("frames", [1, 9])
def test_frozen_form_equals_the_generator(width, frames):
    """The channels-last inference form computes the generator's function (V2 and a narrow V2)."""
    gen = _lively_generator(width=width)
    gen.remove_weight_norm()
    gen.eval()
    mel = torch.randn(2, 128, frames)
    with torch.no_grad():
        reference = gen(mel)
    wave = FrozenHifiGan(generator=gen)(mel)
    assert reference.abs().max() > 0.05  # O(0.1) outputs, so atol 1e-4 is a real check
    assert wave.shape == (2, 1, frames * 512) and wave.is_contiguous()
    assert not wave.requires_grad
    torch.testing.assert_close(wave, reference, atol=1e-4, rtol=0)


def test_frozen_form_reads_through_weight_norm_without_touching_the_generator():
    gen = _lively_generator(width=32).eval()  # weight norm still on
    keys = set(gen.state_dict())
    mel = torch.randn(1, 128, 5)
    with torch.no_grad():
        reference = gen(mel)
    frozen = FrozenHifiGan(generator=gen)
    assert set(gen.state_dict()) == keys  # checkpoints of the generator keep their layout
    assert not any(p.requires_grad for p in frozen.parameters())
    torch.testing.assert_close(frozen(mel), reference, atol=1e-4, rtol=0)
