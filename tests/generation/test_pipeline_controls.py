"""Generation with controls: the request reaches the prior, is recorded and remade, and a request a
model cannot honour is one clear error before anything is sampled."""

import numpy as np
import pytest
import torch
from tiny_model import tiny_model

from distill.errors import UserError
from distill.generation.params import GenerationParams
from distill.generation.pipeline import params_from_metadata, requested_controls, run_generation


@pytest.fixture(scope="module")
def model():
    return tiny_model(controls=True)


def test_the_request_reaches_the_prior_and_the_sound_depends_on_it(model):
    soft = run_generation(
        model, GenerationParams(mode="continuous", duration_s=1.0, controls={"loudness": 0.0})
    )
    loud = run_generation(
        model, GenerationParams(mode="continuous", duration_s=1.0, controls={"loudness": 1.0})
    )
    free = run_generation(model, GenerationParams(mode="continuous", duration_s=1.0))
    assert not torch.equal(soft.grid.codes, loud.grid.codes)
    assert not torch.equal(soft.grid.codes, free.grid.codes)


def test_units_are_read_against_the_models_range(model):
    params = GenerationParams(
        controls={"loudness": "-20dB", "pitch": "C4", "brightness": "1kHz", "length": 0.25}
    )
    vector = requested_controls(model, params).tolist()
    assert vector[:2] == pytest.approx([0.5, (np.log2(1000) - 8.97) / 3], abs=1e-4)
    assert vector[2] == 0.25 and np.isnan(vector[3]) and vector[4] == 0.5
    assert requested_controls(model, GenerationParams()) is None


def test_the_sidecar_records_the_request_and_remakes_the_sound(model):
    params = GenerationParams(
        mode="continuous", duration_s=0.8, seed=5, controls={"pitch": "D4", "noisiness": 0.7}
    )
    first = run_generation(model, params)
    recorded = params_from_metadata(first.audio.metadata)
    assert recorded.controls == {"pitch": "D4", "noisiness": 0.7}
    again = run_generation(model, recorded)
    assert np.array_equal(first.audio.samples, again.audio.samples)


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"warmth": 0.5}, "Unknown control 'warmth'; the controls are loudness, brightness"),
        ({"loudness": "nan"}, "--loudness 'nan' is neither a number from 0 to 1"),
        ({"loudness": float("inf")}, "--loudness needs a number from 0 to 1"),
        ({"pitch": "C7"}, "--pitch C7 is outside what the collection spans (C3 to C5)"),
        ({"length": 3.0}, "--length 3.0 is outside what the collection spans"),
        ({"pitch": ""}, "--pitch needs a number from 0 to 1"),
    ],
)
def test_a_request_the_model_cannot_honour_is_one_line(model, controls, message):
    with pytest.raises(UserError) as error:
        run_generation(model, GenerationParams(duration_s=0.5, controls=controls))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_model_without_controls_names_them_and_says_how_to_get_them():
    plain = tiny_model()
    with pytest.raises(
        UserError, match=r"Model tiny was trained without controls, so it cannot take --brightness"
    ):
        run_generation(plain, GenerationParams(duration_s=0.5, controls={"brightness": 0.5}))
    assert run_generation(plain, GenerationParams(mode="continuous", duration_s=0.3)).audio.samples.size


@pytest.mark.parametrize("guidance", [-1.0, float("nan"), 11.0, "2"])
def test_a_bad_guidance_is_one_line(model, guidance):
    with pytest.raises(UserError, match="guidance must be a number from 0 to 10"):
        run_generation(model, GenerationParams(duration_s=0.5, controls={"loudness": 0.5}, guidance=guidance))


def test_guidance_is_recorded_and_remade(model):
    params = GenerationParams(
        mode="continuous", duration_s=0.5, seed=2, controls={"loudness": 0.9}, guidance=2.5
    )
    first = run_generation(model, params)
    recorded = params_from_metadata(first.audio.metadata)
    assert recorded.guidance == 2.5
    assert np.array_equal(run_generation(model, recorded).audio.samples, first.audio.samples)
