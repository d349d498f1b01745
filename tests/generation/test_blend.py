"""Blends of two models (distill.generation.blend): the ends are the two models' own sounds, the
weight and its curve, what the metadata records, and clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_model import tiny_model

from distill.audio.mel import MelConfig
from distill.errors import UserError
from distill.generation.blend import BlendParams, parse_curve, run_blend
from distill.generation.params import GenerationParams

PARAMS = GenerationParams(mode="continuous", duration_s=1.0, seed=4)


@pytest.fixture(scope="module")
def pair():
    first = tiny_model()
    second = replace(tiny_model(), name="other", id="fedcba9876543210")
    with torch.no_grad():  # another model: other weights, so another sound from the same seed
        for parameter in second.vqvae.decoder.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    return first, second


@pytest.mark.parametrize("kind", ["mix", "resynth"])
def test_weight_zero_is_the_first_models_sound(pair, kind):
    first, second = pair
    blend = run_blend(first, second, PARAMS, BlendParams(kind=kind, weight=0.0))
    assert np.array_equal(blend.audio.samples, first.generate(PARAMS).audio.samples)


def test_weight_one_of_a_mix_is_the_second_models_sound_through_its_own_vocoder(pair):
    first, second = pair
    blend = run_blend(first, second, PARAMS, BlendParams(weight=1.0))
    own = second.generate(PARAMS).audio.samples
    assert np.array_equal(blend.audio.samples, own)
    assert not np.array_equal(own, first.generate(PARAMS).audio.samples)


def test_the_mel_moves_from_one_model_to_the_other_with_the_weight(pair):
    first, second = pair
    mel_a, mel_b = first.generate(PARAMS).mel, second.generate(PARAMS).mel
    for weight in (0.25, 0.5, 0.75):
        mel = run_blend(first, second, PARAMS, BlendParams(weight=weight)).mel
        torch.testing.assert_close(mel, (1 - weight) * mel_a + weight * mel_b)
    curved = run_blend(first, second, PARAMS, BlendParams(curve=((0.0, 0.0), (1.0, 1.0)))).mel
    torch.testing.assert_close(curved[:, 0], mel_a[:, 0])
    torch.testing.assert_close(curved[:, -1], mel_b[:, -1])


def test_resynthesis_at_weight_one_is_the_first_sound_through_the_second_models_codes(pair):
    first, second = pair
    made = first.generate(PARAMS)
    expected = second.decode(
        second.encode(made.audio.samples), window_columns=PARAMS.decode_window_columns, overlap=PARAMS.overlap,
        texture_seed=PARAMS.seed,
    )  # fmt: skip
    blend = run_blend(first, second, PARAMS, BlendParams(kind="resynth", weight=1.0))
    torch.testing.assert_close(blend.mel[:, : expected.shape[-1]], expected)


def test_the_metadata_records_both_models_and_the_blend(pair):
    first, second = pair
    blend = run_blend(first, second, PARAMS, BlendParams(weight=0.3))
    recorded = blend.audio.metadata
    assert recorded["model"]["name"] == "tiny" and recorded["generation"]["seed"] == 4
    assert recorded["blend"]["second"] == {"id": "fedcba9876543210", "name": "other"}
    assert recorded["blend"]["kind"] == "mix" and recorded["blend"]["weight"] == 0.3
    again = run_blend(first, second, PARAMS, BlendParams(weight=0.3))
    assert np.array_equal(again.audio.samples, blend.audio.samples)


def test_curve_weights_interpolate_between_points():
    params = BlendParams(curve=((0.0, 0.0), (0.5, 1.0), (1.0, 0.0)))
    np.testing.assert_allclose(params.weights(5), [0.0, 0.5, 1.0, 0.5, 0.0])
    assert parse_curve("0:0, 0.5:1,1:0") == ((0.0, 0.0), (0.5, 1.0), (1.0, 0.0))
    assert BlendParams(weight=0.7).weights(3).tolist() == [0.7, 0.7, 0.7]
    assert BlendParams(curve=[[0, 0], [1, 1]]).curve == ((0, 0), (1, 1))  # as JSON gives it back


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "morph"}, "one of mix, resynth"),
        ({"weight": 1.5}, "weight must be in"),
        ({"weight": float("nan")}, "weight must be in"),
        ({"curve": ((0.0, 0.0),)}, "two or more TIME:WEIGHT"),
        ({"curve": ((0.0, 0.0), (0.0, 1.0))}, "times rising"),
        ({"curve": ((0.0, 0.0), (1.0, 2.0))}, "weights in"),
    ],
)
def test_bad_blend_settings_are_one_clear_error(pair, settings, message):
    with pytest.raises(UserError, match=message):
        run_blend(*pair, PARAMS, BlendParams(**settings))


def test_a_bad_curve_text_and_spatial_options_and_other_mels_are_refused(pair):
    first, second = pair
    with pytest.raises(UserError, match="TIME:WEIGHT points"):
        parse_curve("0-0,1-1")
    with pytest.raises(UserError, match="written mono"):
        run_blend(first, second, replace(PARAMS, stereo=0.5), BlendParams())
    other_mel = replace(second, mel_config=MelConfig(sample_rate=22050))
    with pytest.raises(UserError, match="different mels"):
        run_blend(first, other_mel, PARAMS, BlendParams())


def test_the_public_blend_is_run_blend_with_settings(pair):
    from distill import blend

    first, second = pair
    made = blend(
        first, second, weight=0.3, curve=[[0, 0.2], [1, 0.6]], mode="continuous", duration_s=1.0, seed=4
    )
    expected = run_blend(first, second, PARAMS, BlendParams(weight=0.3, curve=((0, 0.2), (1, 0.6))))
    assert np.array_equal(made.audio.samples, expected.audio.samples)
