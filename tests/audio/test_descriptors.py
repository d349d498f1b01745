"""Descriptors measured from audio, and the control space that turns requests into what the prior reads."""

import math

import numpy as np
import pytest
import torch

from distill.audio.control_space import (
    DESCRIPTORS,
    HEADROOM,
    ControlSpace,
    format_value,
    note_name,
    note_range,
    parse_note,
)
from distill.audio.descriptors import describe
from distill.errors import UserError

RATE = 44100
LOUDNESS, BRIGHTNESS, LENGTH, NOISINESS, PITCH = range(5)


def harmonic(f0: float, seconds: float = 1.0, *, decay: float = 0.0, partials: int = 8) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    tone = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, partials + 1) if f0 * k < 16000)
    return 0.2 * tone * torch.exp(-decay * t)


def noise(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(int(seconds * RATE), generator=torch.Generator().manual_seed(seed))


def test_a_gain_moves_loudness_by_its_decibels_and_nothing_else():
    sound = harmonic(220.0, decay=2.0)
    quiet, loud = describe(sound), describe(sound * 10 ** (6 / 20))
    assert loud[LOUDNESS] - quiet[LOUDNESS] == pytest.approx(6.0, abs=0.05)
    assert loud[BRIGHTNESS] == pytest.approx(quiet[BRIGHTNESS], abs=0.01)
    assert loud[PITCH] == pytest.approx(quiet[PITCH], abs=0.01)


def test_loudness_is_the_loudest_moment_in_dbfs_not_the_average_over_a_long_tail():
    sine = 0.5 * torch.sin(2 * math.pi * 440 * torch.arange(RATE) / RATE)  # RMS 0.354 = -9.0 dBFS
    assert describe(sine)[LOUDNESS] == pytest.approx(-9.03, abs=0.1)
    with_tail = torch.cat([sine, torch.zeros(4 * RATE)])
    assert describe(with_tail)[LOUDNESS] == pytest.approx(-9.03, abs=0.1)


def test_higher_partials_are_brighter_by_their_octaves():
    low, high = describe(harmonic(200.0, partials=1)), describe(harmonic(1600.0, partials=1))
    assert high[BRIGHTNESS] - low[BRIGHTNESS] == pytest.approx(3.0, abs=0.25)  # 3 octaves up
    assert format_value("brightness", high[BRIGHTNESS]).endswith("Hz")


def test_length_follows_how_long_the_sound_rings():
    short, long = describe(harmonic(300.0, 2.0, decay=12.0)), describe(harmonic(300.0, 2.0, decay=3.0))
    # a 30 dB fall takes ln(10^1.5) / decay seconds: 0.29 s and 1.15 s
    assert 2 ** short[LENGTH] == pytest.approx(0.29, abs=0.06)
    assert 2 ** long[LENGTH] == pytest.approx(1.15, abs=0.08)


def test_noise_is_noisier_than_a_tone_and_has_no_pitch():
    white, tone = describe(noise()), describe(harmonic(220.0))
    assert white[NOISINESS] > -3.0 > tone[NOISINESS] + 10
    assert math.isnan(white[PITCH])


@pytest.mark.parametrize("note", [45, 57, 69, 81])
def test_the_pitch_of_a_harmonic_tone_is_its_note(note):
    f0 = 440.0 * 2 ** ((note - 69) / 12)
    assert describe(harmonic(f0))[PITCH] == pytest.approx(note, abs=0.4)


def test_a_glide_over_an_octave_has_no_single_pitch():
    t = torch.arange(RATE) / RATE
    glide = 0.3 * torch.sin(2 * math.pi * 220 * (t + t**2 / 2))  # 220 -> 440 Hz
    assert math.isnan(describe(glide)[PITCH])


def test_tiny_and_silent_clips_are_described_without_errors():
    assert np.isfinite(describe(torch.zeros(100))[:4]).all()
    assert np.isfinite(describe(noise(0.01))[:4]).all()


# --- the control space ---------------------------------------------------------------------------


def space_of(rows) -> ControlSpace:
    return ControlSpace.measure(np.array(rows, dtype=float))


PIANO_LIKE = [[-20, 8, 1, -40, 48], [-30, 10, 2, -35, 60], [-25, 9, 0, -38, math.nan]]


def test_the_range_is_the_recordings_and_relative_values_map_it_to_0_1():
    space = space_of(PIANO_LIKE)
    assert list(space.ranges) == list(DESCRIPTORS)
    relative = space.relative(np.array(PIANO_LIKE, dtype=float))
    assert relative[:, LOUDNESS].tolist() == [1.0, 0.0, 0.5]
    assert relative[:, PITCH][:2].tolist() == [0.0, 1.0] and math.isnan(relative[2, PITCH])


def test_a_collection_mostly_without_pitch_has_no_pitch_control_and_narrow_ranges_widen():
    space = space_of([[-20, 8, 1, -10, math.nan], [-20, 8, 1, -10, 50], [-20, 8, 1, -10, math.nan]])
    assert "pitch" not in space.ranges
    loudness = space.ranges["loudness"]
    assert loudness.high - loudness.low == pytest.approx(6.0) and loudness.relative(-20) == 0.5
    assert np.isnan(space.relative(np.array([[-20, 8, 1, -10, 50]], dtype=float))[0, PITCH])


def test_requests_in_relative_and_absolute_units():
    space = space_of(PIANO_LIKE)
    vector = space.request({"loudness": 0.25, "pitch": "C4", "brightness": "1024Hz"}, model="piano")
    assert vector[LOUDNESS] == 0.25 and vector[PITCH] == 1.0 and vector[BRIGHTNESS] == pytest.approx(1.0)
    assert math.isnan(vector[LENGTH]) and math.isnan(vector[NOISINESS])
    assert space.request({"loudness": "-25dB", "length": "2s"}, model="piano")[:3:2] == [0.5, 0.5]
    assert space.request({"pitch": "261.63Hz"}, model="piano")[PITCH] == pytest.approx(1.0, abs=1e-3)
    assert space.request({"pitch": "0.5"}, model="piano")[PITCH] == 0.5


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"warmth": 0.5}, "Unknown control 'warmth'"),
        ({"loudness": 2.0}, "--loudness 2.0 is outside what the collection spans (-30.0 dB to -20.0 dB)"),
        ({"pitch": "C8"}, "--pitch C8 is outside what the collection spans (C3 to C4)"),
        ({"loudness": "loud"}, "neither a number from 0 to 1"),
        ({"noisiness": "3dB"}, "no unit: give 0..1"),
        ({"length": math.nan}, "outside what the collection spans"),
        ({"brightness": True}, "needs a number"),
    ],
)
def test_requests_it_cannot_honour_are_one_clear_error(request_, message):
    with pytest.raises(UserError) as error:
        space_of(PIANO_LIKE).request(request_, model="piano")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_control_the_model_lacks_names_the_model_and_why():
    drums = space_of([[-20, 12, -2, -10, math.nan], [-25, 13, -1, -5, math.nan]])
    with pytest.raises(
        UserError, match=r"Model drums has no pitch control \(its collection has no stable pitch\)"
    ):
        drums.request({"pitch": "C3"}, model="drums")


def test_the_space_survives_its_record_and_a_damaged_record_is_none():
    space = space_of(PIANO_LIKE)
    assert ControlSpace.from_dict(space.as_dict()) == space
    for damaged in (None, {}, [], {"loudness": {"low": 1}}, {"loudness": {"low": 2, "high": 1}}, "x"):
        assert ControlSpace.from_dict(damaged) is None


def test_notes_names_and_ranges():
    assert (
        parse_note("C4") == 60
        and parse_note("A#4") == 70
        and parse_note("Bb2") == 46
        and parse_note("c-1") == 0
    )
    assert parse_note("440Hz") == pytest.approx(69)
    assert note_name(48) == "C3" and note_name(61) == "C#4" and note_name(61, file_safe=True) == "Cs4"
    assert note_range("C2..E2") == [36, 37, 38, 39, 40]
    for bad in ("H3", "C3", "C5..C2", "C3..", "C3..X9", "C-2..C3"):
        with pytest.raises(UserError):
            note_range(bad)
    assert HEADROOM > 0
