"""Controls that follow by choice: several draws for a request, the one measured nearest kept, a
note tuned to the key asked; all of it recorded and remade from the sidecar."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_rvqvae
from tiny_model import tiny_model

import distill.generation.drawing as drawing
import distill.generation.pipeline as pipeline
from distill.audio.control_space import ControlRange, ControlSpace
from distill.audio.envelope import CollectionShape
from distill.audio.mel import MelConfig
from distill.codes.sampling import sample_batch
from distill.errors import UserError
from distill.generation.candidates import (
    MAX_RETUNE_SEMITONES,
    UNMEASURED,
    choose,
    decoder_pitch_hz,
    distance,
    measure,
    retune,
    retune_semitones,
)
from distill.generation.drawing import DrawRequest, draw_batch
from distill.generation.params import DEFAULT_CANDIDATES, NOTE_CANDIDATES, GenerationParams
from distill.generation.pipeline import params_from_metadata, resolve, run_generation

NAN = math.nan
SPACE = ControlSpace(
    ranges={
        "loudness": ControlRange(-30.0, -10.0),
        "brightness": ControlRange(8.0, 12.0),
        "pitch": ControlRange(48.0, 72.0),
    }
)


@pytest.fixture(scope="module")
def model():
    return tiny_model(controls=True)


def test_distance_counts_only_what_was_asked_and_a_missing_value_as_the_whole_range():
    asked = np.array([0.5, NAN, NAN, NAN, 0.25])
    assert distance(asked, np.array([0.7, 9.0, -3.0, 0.0, 0.25])) == pytest.approx(0.04)
    assert distance(asked, np.array([0.5, 0.0, 0.0, 0.0, NAN])) == UNMEASURED
    assert distance(np.full(5, NAN), np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == 0.0


def test_the_draw_nearest_the_request_is_kept_and_one_that_began_silent_only_last():
    asked = np.array([NAN, 0.75, NAN, NAN, NAN])  # brightness 0.75 = 11 octaves above 1 Hz
    draws = [np.array([-20.0, octaves, 0.0, -20.0, NAN]) for octaves in (8.5, 10.9, 11.2, 12.0)]
    choice = choose(SPACE, asked, draws, [False] * 4)
    assert choice.index == 1 and choice.draws == 4 and choice.retune_semitones == 0.0
    assert np.array_equal(choice.descriptors, draws[1], equal_nan=True)
    # The nearest began with silence: the next nearest is kept; if all did, the nearest of them.
    assert choose(SPACE, asked, draws, [False, True, False, False]).index == 2
    assert choose(SPACE, asked, draws, [True] * 4).index == 1
    # Equal distances: the earlier draw, so every machine keeps the same one.
    assert choose(SPACE, asked, [draws[1], draws[1].copy()], [False, False]).index == 0


def test_the_record_names_what_was_measured_in_units():
    asked = np.array([0.5, NAN, NAN, NAN, 0.5])
    choice = choose(SPACE, asked, [np.array([-21.0, 10.0, 0.0, -20.0, 59.2])], [False])
    record = choice.record(SPACE, ["loudness", "pitch"])
    assert record == {
        "draws": 1,
        "kept": 0,
        "measured": {"loudness": "-21.0 dB", "pitch": "B3"},
        "retuned_semitones": 0.8,
    }


@pytest.mark.parametrize(
    ("measured", "asked_note", "shift"),
    [(59.2, 60.0, 0.8), (62.5, 60.0, -2.5), (60.0 + MAX_RETUNE_SEMITONES + 0.5, 60.0, 0.0), (NAN, 60.0, 0.0)],
)
def test_a_note_is_tuned_only_when_it_is_near_the_key_asked(measured, asked_note, shift):
    asked = np.array([NAN, NAN, NAN, NAN, SPACE.ranges["pitch"].relative(asked_note)])
    assert retune_semitones(SPACE, asked, np.array([0, 0, 0, 0, measured])) == pytest.approx(shift)
    assert retune_semitones(SPACE, np.full(5, NAN), np.array([0, 0, 0, 0, measured])) == 0.0


def test_tuning_plays_the_sound_faster_or_slower_by_the_semitones_asked():
    config = MelConfig()
    rate = config.sample_rate
    t = np.arange(int(1.0 * rate)) / rate
    # A decaying harmonic tone at A3 (220 Hz), which the pitch descriptor tracks.
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6)) * np.exp(-2 * t) * 0.3
    tone = tone.astype(np.float32)
    before = measure(tone, config)[4]
    up = retune(tone, 2.0, rate)
    assert len(up) == pytest.approx(len(tone) / 2 ** (2 / 12), abs=2)
    assert measure(up, config)[4] - before == pytest.approx(2.0, abs=0.3)
    down = retune(tone, -1.5, rate)
    assert measure(down, config)[4] - before == pytest.approx(-1.5, abs=0.3)
    assert retune(tone, 0.0, rate) is tone


def test_candidates_resolve_to_the_default_with_controls_and_one_without(model):
    assert resolve(model, GenerationParams(controls={"loudness": 0.5})).candidates == DEFAULT_CANDIDATES
    assert resolve(model, GenerationParams(controls={"loudness": 0.5}, candidates=3)).candidates == 3
    assert resolve(model, GenerationParams()).candidates == 1
    # A note asked for draws more: it must land near the key to be tuned to it.
    assert (
        resolve(model, GenerationParams(controls={"pitch": "C4", "loudness": 0.5})).candidates
        == NOTE_CANDIDATES
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (GenerationParams(candidates=4), "--candidates chooses among draws by the controls asked"),
        (GenerationParams(candidates=0, controls={"loudness": 0.5}), "candidates must be a whole number"),
        (GenerationParams(candidates=65, controls={"loudness": 0.5}), "from 1 to 64"),
        (GenerationParams(candidates=2.5, controls={"loudness": 0.5}), "candidates must be a whole number"),
    ],
)
def test_a_bad_candidates_value_is_one_line(model, params, message):
    with pytest.raises(UserError, match=message) as error:
        run_generation(model, params)
    assert "\n" not in str(error.value)


def test_the_kept_sound_is_the_draw_measured_nearest_and_it_is_remade_bit_for_bit(model, monkeypatch):
    seen = {}
    real_choose = pipeline.choose

    def spy(space, asked, described, silent):
        seen.update(asked=asked, described=described, choice=real_choose(space, asked, described, silent))
        return seen["choice"]

    monkeypatch.setattr(pipeline, "choose", spy)
    params = GenerationParams(
        mode="continuous", duration_s=0.6, seed=4, controls={"brightness": 0.9}, candidates=5
    )
    result = run_generation(model, params)
    described, choice = seen["described"], seen["choice"]
    assert len(described) == 5 and choice.draws == 5
    distances = [distance(seen["asked"], model.controls.relative(d)) for d in described]
    assert distances[choice.index] == min(distances)
    # What was written is the kept draw: measured again, it is the same sound.
    assert np.allclose(
        measure(result.audio.samples, model.mel_config), described[choice.index], equal_nan=True
    )
    record = result.audio.metadata["controls_chosen"]
    assert (
        record["draws"] == 5 and record["kept"] == choice.index and set(record["measured"]) == {"brightness"}
    )
    recorded = params_from_metadata(result.audio.metadata)
    assert recorded.candidates == 5
    again = run_generation(model, recorded)
    assert np.array_equal(again.audio.samples, result.audio.samples)


def test_a_sidecar_from_before_candidates_remakes_one_draw(model):
    params = GenerationParams(
        mode="continuous", duration_s=0.5, seed=2, controls={"loudness": 0.4}, candidates=1
    )
    made = run_generation(model, params)
    metadata = {**made.audio.metadata, "generation": dict(made.audio.metadata["generation"])}
    del metadata["generation"]["candidates"]
    assert params_from_metadata(metadata).candidates == 1
    assert np.array_equal(
        run_generation(model, params_from_metadata(metadata)).audio.samples, made.audio.samples
    )


SHORT = dict(files=8, median_s=1.0, min_s=0.5, max_s=2.0)


def test_a_batch_of_one_shots_is_cut_at_each_ones_own_end(model):
    """Each draw of a batch ends where its own sound has decayed, not where the batch stopped."""
    shape = CollectionShape(**SHORT, tail_drop=0.0, silence_level=-100.0)
    request = DrawRequest(
        prior=model.prior,
        vqvae=model.vqvae,
        shape=shape,
        one_shot=True,
        n_columns=12,
        new_frames=12 * model.vqvae.frames_per_column,
        temperature=1.0,
        top_k=0,
        top_p=0.95,
        prompt=None,
        controls=None,
        guidance=1.0,
    )
    drawn = draw_batch(request, seed=1, count=3)
    # The same batch drawn to the end: each row's sound is over where its own levels say.
    full = sample_batch(
        model.prior,
        batch_size=3,
        n_columns=12,
        temperature=1.0,
        top_k=0,
        top_p=0.95,
        seed=drawing._derived_seed("candidates:1"),
        file_start=True,
    )
    ends = [shape.ended_at(request.levels(full[row])) for row in range(3)]
    assert any(end is not None and end < 11 for end in ends)  # the shape ends sounds early
    for row, draw in enumerate(drawn):
        expected = full[row] if ends[row] is None else full[row][..., : ends[row] + 1]
        assert torch.equal(draw.codes, expected)
        assert draw.new_frames == draw.codes.shape[-1] * model.vqvae.frames_per_column
    again = draw_batch(request, seed=1, count=3)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(drawn, again, strict=True))


@pytest.fixture
def draws_measure_d_sharp_4(monkeypatch):
    """Every draw measures D#4, a semitone flat of the E4 the tests ask for (whatever it sounds)."""
    real_measure = pipeline.measure

    def flat(samples, config):
        measured = real_measure(samples, config)
        measured[4] = 63.0  # E4 is 64
        return measured

    monkeypatch.setattr(pipeline, "measure", flat)


@pytest.mark.usefixtures("draws_measure_d_sharp_4")
def test_a_one_shot_asked_for_a_note_is_tuned_to_it(model, monkeypatch):
    """Every draw measures a semitone flat of the key asked: the kept one is played a semitone
    faster, and the sidecar says so."""
    shaped = replace(model, sounds=CollectionShape(**SHORT, tail_drop=0.0, silence_level=-100.0))
    params = GenerationParams(mode="one-shot", seed=3, controls={"pitch": "E4"}, candidates=2)
    tuned = run_generation(shaped, params)
    assert tuned.audio.metadata["controls_chosen"]["retuned_semitones"] == pytest.approx(1.0)
    assert tuned.audio.metadata["controls_chosen"]["measured"] == {"pitch": "D#4"}
    monkeypatch.setattr(pipeline, "retune", lambda samples, semitones, rate: samples)
    plain = run_generation(shaped, params)
    assert len(tuned.audio.samples) == pytest.approx(len(plain.audio.samples) / 2 ** (1 / 12), abs=2)


@pytest.mark.usefixtures("draws_measure_d_sharp_4")
def test_a_one_shot_asked_for_a_note_is_rendered_at_it_by_the_decoder(model):
    """With a pitch head, the kept draw's codes are decoded at the note asked: its mel is the grid
    decoded at that f0, it is not played at another rate (its length stays), the sidecar says so and
    remakes it; tuning="rate", and a sidecar from before the option, tune the same draw by rate."""
    shape = CollectionShape(**SHORT, tail_drop=0.0, silence_level=-100.0)
    pitched = replace(model, vqvae=tiny_rvqvae(pitch_head=16), sounds=shape, _vqvae_digest=None)
    params = GenerationParams(mode="one-shot", seed=3, controls={"pitch": "E4"}, candidates=2)
    made = run_generation(pitched, params)
    record = made.audio.metadata["controls_chosen"]
    e4 = 440 * 2 ** (-5 / 12)
    assert record["rendered_at_hz"] == pytest.approx(e4, abs=0.01) and record["retuned_semitones"] == 0.0
    assert record["measured"] == {"pitch": "D#4"}  # what the draw measured, before tuning
    torch.testing.assert_close(made.mel, pitched.decode(made.grid, texture_seed=3, pitch_hz=e4))
    again = run_generation(pitched, params_from_metadata(made.audio.metadata))
    assert np.array_equal(again.audio.samples, made.audio.samples)

    by_rate = run_generation(pitched, replace(params, tuning="rate"))
    assert torch.equal(by_rate.grid.codes, made.grid.codes)  # the same draw kept
    assert by_rate.audio.metadata["controls_chosen"]["retuned_semitones"] == pytest.approx(1.0)
    assert "rendered_at_hz" not in by_rate.audio.metadata["controls_chosen"]
    assert len(made.audio.samples) == pytest.approx(len(by_rate.audio.samples) * 2 ** (1 / 12), abs=2)
    before = {k: v for k, v in made.audio.metadata["generation"].items() if k != "tuning"}
    assert params_from_metadata({**made.audio.metadata, "generation": before}).tuning == "rate"


def test_the_decoder_renders_a_note_only_within_its_pitch_head_else_it_is_tuned_by_rate():
    e4 = np.array([NAN, NAN, NAN, NAN, 16 / 24])  # C3..C5: E4 is 16 of 24 semitones up
    assert decoder_pitch_hz(SPACE, e4, (50.0, 1200.0)) == pytest.approx(440 * 2 ** (-5 / 12))
    assert decoder_pitch_hz(SPACE, e4, (50.0, 300.0)) is None  # beyond the head: by rate
    assert decoder_pitch_hz(SPACE, e4, None) is None  # no pitch head
    assert decoder_pitch_hz(SPACE, np.full(5, NAN), (50.0, 1200.0)) is None  # no note asked
    with pytest.raises(UserError, match="tuning"):
        GenerationParams(controls={"pitch": "E4"}, tuning="stretch").check()


def test_every_draw_of_a_batch_continues_the_prompt(model, tmp_path):
    import soundfile
    from tiny_model import decaying_tone

    prompt = tmp_path / "prompt.wav"
    soundfile.write(prompt, decaying_tone(0.8, 330), 44100)
    params = GenerationParams(
        mode="continuous",
        duration_s=0.5,
        seed=1,
        prompt=str(prompt),
        controls={"noisiness": 0.2},
        candidates=3,
    )
    result = run_generation(model, params)
    own = model.encode(str(prompt))
    whole = own.n_frames // own.frames_per_column
    assert torch.equal(result.grid.codes[..., :whole], own.codes[..., :whole])
    assert result.audio.metadata["controls_chosen"]["draws"] == 3
