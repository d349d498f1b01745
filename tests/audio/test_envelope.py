"""Column levels and the collection shape: when a one-shot is over, and which mode a collection suggests."""

import math

import pytest
import torch

from distill.audio.envelope import (
    MAX_TAIL_DROP,
    MIN_RISE,
    MIN_TAIL_DROP,
    QUIET_COLUMNS,
    RISE_MARGIN,
    CollectionShape,
    column_levels,
    frame_levels,
    is_single_event,
)


def shape(**overrides) -> CollectionShape:
    values = dict(files=4, median_s=1.0, min_s=0.5, max_s=2.0, tail_drop=3.0, silence_level=-11.0)
    return CollectionShape(**{**values, **overrides})


def test_frame_level_is_the_log_of_the_mean_magnitude():
    mel = torch.log(torch.tensor([[1.0, 4.0], [3.0, 4.0]]))  # 2 bands x 2 frames
    assert torch.allclose(frame_levels(mel), torch.log(torch.tensor([2.0, 4.0])))


def test_a_column_is_as_loud_as_its_loudest_frame_and_a_partial_column_counts():
    mel = torch.full((4, 20), -5.0)
    mel[:, 3] = 1.0
    mel[:, 18] = 0.0
    levels = column_levels(mel, 16)
    assert levels.shape == (2,) and levels[0] == pytest.approx(1.0) and levels[1] == pytest.approx(0.0)


def test_a_sound_has_decayed_after_quiet_columns_below_its_peak():
    levels = torch.tensor([-11.0, -2.0, -1.0, -3.0, -4.5, -4.6, -4.7])  # peak -1; quiet below -4
    assert shape().ended_at(levels) == 4  # columns 4 and 5 are the first two quiet ones in a row
    assert shape().ended_at(levels[:5]) is None  # one quiet column is not yet the end


def test_silence_before_the_sound_does_not_end_it_and_a_gap_inside_it_does_not_either():
    levels = torch.tensor([-11.0, -11.0, -11.0, -1.0, -5.0, -1.5, -1.0, -1.2])
    assert shape().ended_at(levels) is None
    assert QUIET_COLUMNS == 2


def test_a_second_onset_ends_the_sound_just_before_it():
    # peak -1, a dip to -4.5 (3.5 below), a climb back to -2.0 (2.5 up): a second hit at column 5.
    levels = torch.tensor([-11.0, -1.0, -2.5, -4.5, -3.0, -2.0, -3.0])
    assert shape(tail_drop=MAX_TAIL_DROP, rise=2.5).ended_at(levels) == 4
    assert shape(tail_drop=MAX_TAIL_DROP, rise=2.6).ended_at(levels) is None  # not deep enough
    assert shape(tail_drop=MAX_TAIL_DROP).ended_at(levels) is None  # an older model file: no rule
    # An attack over several columns climbs without a dip first: not a second sound.
    assert shape(rise=MIN_RISE).ended_at(torch.tensor([-11.0, -8.0, -5.0, -1.0, -1.5])) is None


def test_the_rise_is_measured_so_that_no_training_file_would_be_cut():
    decay = torch.tensor([-1.0, -2.0, -3.0, -4.0])
    flam = torch.tensor([-1.0, -4.0, -1.5, -3.0, -5.0])  # falls 3, returns 2.5
    measured = CollectionShape.measure([1.0, 1.0], [decay, flam], silence_level=-11.0)
    assert measured.rise == pytest.approx(2.5 + RISE_MARGIN)
    for levels in (decay, flam):
        assert measured.ended_at(levels) is None or measured.ended_at(levels) >= len(levels) - 2
    plain = CollectionShape.measure([1.0], [decay], silence_level=-11.0)
    assert plain.rise == pytest.approx(MIN_RISE)  # a plain decay: the floor
    assert CollectionShape.from_dict({**plain.as_dict(), "rise": None}).rise is None


def test_decoded_silence_ends_a_sound_whatever_the_drop():
    levels = torch.tensor([-10.5, -10.95, -10.95])  # a faint sound, then silence
    assert shape(tail_drop=MAX_TAIL_DROP).ended_at(levels) == 1


def test_the_shape_is_measured_from_lengths_and_tails_and_clamped():
    loud_then_cut = torch.tensor([0.0, -0.5])  # drop 0.5 nats: clamped up to 20 dB
    measured = CollectionShape.measure([0.5, 1.0, 3.0], [loud_then_cut] * 3, silence_level=-11.0)
    assert measured.tail_drop == pytest.approx(MIN_TAIL_DROP, abs=1e-3)
    assert (measured.median_s, measured.min_s, measured.max_s, measured.files) == (1.0, 0.5, 3.0, 3)
    deep = CollectionShape.measure([1.0], [torch.tensor([0.0, -20.0])], silence_level=-11.0)
    assert deep.tail_drop == pytest.approx(MAX_TAIL_DROP, abs=1e-3)
    assert math.isclose(
        CollectionShape.measure(
            [1.0, 1.0], [torch.tensor([0.0, -4.0]), torch.tensor([0.0, -5.0])], -11.0
        ).tail_drop,
        4.5,
    )


def test_short_recordings_suggest_one_shots_and_long_ones_a_stream():
    assert shape(median_s=1.0).default_mode == "one-shot"
    assert shape(median_s=30.0).default_mode == "continuous"


def test_long_recordings_of_one_event_each_suggest_one_shots():
    # A piano's notes: 15 s each, but each one strike and its decay.
    assert shape(median_s=15.0, single_events=0.9).default_mode == "one-shot"
    assert shape(median_s=15.0, single_events=0.2).default_mode == "continuous"
    assert shape(median_s=15.0, single_events=None).default_mode == "continuous"  # an older model file
    assert shape(median_s=1.0, single_events=0.0).default_mode == "one-shot"  # short: separate anyway


def test_a_single_event_is_struck_decays_and_does_not_strike_again():
    note = torch.linspace(0.0, -8.0, 80)  # 15 s of decay from the first column
    assert is_single_event(note)
    assert is_single_event(torch.cat([torch.tensor([-9.0, -3.0]), note]))  # a two-column attack
    swell = torch.cat([torch.linspace(-2.0, 0.0, 10), torch.linspace(0.0, -8.0, 20)])
    assert not is_single_event(swell)  # loudest 9 columns after it began: a swell or a phrase
    cut = torch.linspace(0.0, -1.5, 40)
    assert not is_single_event(cut)  # a stream cut off, not a sound that ended
    restruck = torch.cat([torch.linspace(0.0, -4.0, 20), torch.linspace(-1.0, -8.0, 20)])
    assert not is_single_event(restruck)  # a second note after the first


def test_the_share_of_single_events_is_measured_and_round_trips():
    note, stream = torch.linspace(0.0, -8.0, 80), torch.zeros(80)
    measured = CollectionShape.measure([15.0] * 4, [note, note, note, stream], silence_level=-11.0)
    assert measured.single_events == pytest.approx(0.75)
    assert measured.default_mode == "one-shot"
    assert CollectionShape.from_dict(measured.as_dict()) == measured
    older = {key: value for key, value in measured.as_dict().items() if key != "single_events"}
    assert CollectionShape.from_dict(older).single_events is None


def test_the_shape_round_trips_and_a_malformed_record_reads_as_none():
    assert CollectionShape.from_dict(shape().as_dict()) == shape()
    assert CollectionShape.from_dict({"files": 3}) is None and CollectionShape.from_dict(None) is None
