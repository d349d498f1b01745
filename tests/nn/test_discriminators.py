"""MPD and MSD: result structure and shapes for the paper and CPU-light variants."""

import pytest
import torch
from torch.nn.utils import parametrize

from distill.nn.discriminators import DiscriminatorResult, MultiPeriodDiscriminator, MultiScaleDiscriminator

MPD_FULL = dict(
    periods=[2, 3, 5, 7, 11],
    channels=[32, 128, 512, 1024, 1024],
    kernel_size=5,
    stride=3,
    leaky_relu_slope=0.1,
)
MPD_LIGHT = {**MPD_FULL, "periods": [2, 3, 5], "channels": [8, 32, 128, 256, 256]}
MSD_FULL = dict(
    num_scales=3,
    channels=[128, 128, 256, 512, 1024, 1024, 1024],
    kernel_sizes=[15, 41, 41, 41, 41, 41, 5],
    strides=[1, 2, 2, 4, 4, 1, 1],
    groups=[1, 4, 16, 16, 16, 16, 1],
    leaky_relu_slope=0.1,
)
MSD_LIGHT = {
    **MSD_FULL,
    "num_scales": 2,
    "channels": [32, 32, 64, 128, 256, 256, 256],
    "groups": [1, 4, 8, 8, 8, 8, 1],
}
SAMPLES = 2048
CONFIGS = {"mpd-full": MPD_FULL, "mpd-light": MPD_LIGHT, "msd-full": MSD_FULL, "msd-light": MSD_LIGHT}


@pytest.fixture(scope="module")
def discriminators():
    """Each variant built once: the full ones hold ~70 M parameters and take a while to initialise."""
    torch.manual_seed(0)
    built = {}
    for name, config in CONFIGS.items():
        cls = MultiPeriodDiscriminator if name.startswith("mpd") else MultiScaleDiscriminator
        built[name] = cls(**config)
    return built


def _frames_after(length: int, strides: int) -> int:
    # (kernel 5, padding 2) convs with stride 3, `strides` times: ceil-divide each time.
    for _ in range(strides):
        length = (length - 1) // 3 + 1
    return length


@pytest.mark.parametrize("name", ["mpd-full", "mpd-light"])
def test_mpd_shapes(discriminators, name):
    config = CONFIGS[name]
    with torch.no_grad():
        result = discriminators[name](torch.randn(2, 1, SAMPLES))
    assert isinstance(result, DiscriminatorResult)
    assert len(result.logits) == len(result.features) == len(config["periods"])
    for period, logits, feats in zip(config["periods"], result.logits, result.features, strict=True):
        rows = -(-SAMPLES // period)  # padded up to a multiple of the period
        t_out = _frames_after(rows, len(config["channels"]) - 1)
        assert logits.shape == (2, t_out * period)
        assert len(feats) == len(config["channels"]) + 1
        assert [f.shape[1] for f in feats] == [*config["channels"], 1]
        assert all(f.shape[0] == 2 and f.shape[-1] == period for f in feats)
        assert feats[0].shape[2] == _frames_after(rows, 1)


def test_mpd_pads_lengths_that_are_not_a_multiple_of_the_period(discriminators):
    with torch.no_grad():
        result = discriminators["mpd-light"](torch.randn(1, 1, SAMPLES + 1))
    assert [feats[-1].shape[-1] for feats in result.features] == MPD_LIGHT["periods"]


@pytest.mark.parametrize("name", ["msd-full", "msd-light"])
def test_msd_shapes(discriminators, name):
    config = CONFIGS[name]
    with torch.no_grad():
        result = discriminators[name](torch.randn(2, 1, SAMPLES))
    assert isinstance(result, DiscriminatorResult)
    assert len(result.logits) == len(result.features) == config["num_scales"]
    length = SAMPLES
    for scale, (logits, feats) in enumerate(zip(result.logits, result.features, strict=True)):
        if scale > 0:
            length = length // 2 + 1  # AvgPool1d(4, 2, padding=2)
        assert [f.shape[1] for f in feats] == [*config["channels"], 1]
        expected = length
        for f, stride in zip(feats, [*config["strides"], 1], strict=True):
            expected = (expected - 1) // stride + 1
            assert f.shape == (2, f.shape[1], expected)
        assert logits.shape == (2, expected)


def test_msd_uses_spectral_norm_on_first_scale_only(discriminators):
    msd = discriminators["msd-light"]
    first, second = msd.discriminators[0].convs[0], msd.discriminators[1].convs[0]
    assert parametrize.is_parametrized(first, "weight") and parametrize.is_parametrized(second, "weight")
    assert type(first.parametrizations.weight[0]).__name__ == "_SpectralNorm"
    assert type(second.parametrizations.weight[0]).__name__ == "_WeightNorm"


def test_light_variants_are_much_smaller(discriminators):
    counts = {name: sum(p.numel() for p in disc.parameters()) for name, disc in discriminators.items()}
    assert 40e6 < counts["mpd-full"] < 42e6  # the paper's MPD is ~41 M parameters
    assert counts["mpd-light"] + counts["msd-light"] < (counts["mpd-full"] + counts["msd-full"]) / 20


def test_gradients_reach_the_input_and_all_parameters():
    mpd, msd = MultiPeriodDiscriminator(**MPD_LIGHT), MultiScaleDiscriminator(**MSD_LIGHT)
    wave = torch.randn(1, 1, 1024, requires_grad=True)
    loss = sum(logits.mean() for disc in (mpd, msd) for logits in disc(wave).logits)
    loss.backward()
    assert wave.grad is not None and wave.grad.abs().sum() > 0
    for disc in (mpd, msd):
        assert all(p.grad is not None for p in disc.parameters())


def test_msd_rejects_mismatched_layer_lists():
    with pytest.raises(ValueError):
        MultiScaleDiscriminator(**{**MSD_LIGHT, "strides": [1, 2, 2]})
