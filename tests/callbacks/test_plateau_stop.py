"""The prior's early stop reads the trend of the validation loss, and only late in the budget."""

import pytest

from distill.callbacks.plateau_stop import PlateauStop


def run(values, progress=1.0, **settings) -> int | None:
    """The validation (0-based) at which the rule stops, None if it never does."""
    rule = PlateauStop(**settings)
    for index, value in enumerate(values):
        if rule.update(value, progress):
            return index
    return None


def test_a_single_bad_epoch_does_not_stop_an_improving_run():
    improving = [3.0 - 0.05 * i for i in range(20)]
    for spike in (3, 8, 15):
        values = list(improving)
        values[spike] += 2.0  # one noisy validation
        assert run(values) is None


def test_two_bad_epochs_among_slowly_improving_ones_do_not_stop_it():
    values = [3.0 - 0.01 * i for i in range(30)]
    values[10] += 0.5
    values[12] += 0.5
    assert run(values) is None


def test_a_real_plateau_stops_after_the_patience():
    values = [3.0, 2.8, 2.6, 2.5] + [2.5 + 0.02 * i for i in range(1, 12)]  # turns up after validation 3
    stop = run(values)
    assert stop is not None and 5 <= stop <= 9


def test_never_before_the_minimum_share_of_the_budget():
    values = [3.0, 2.8, 2.6, 2.5] + [2.5 + 0.02 * i for i in range(1, 12)]
    assert run(values, progress=0.3, min_progress=0.5) is None
    assert run(values, progress=0.5, min_progress=0.5) is not None


def test_state_round_trips_for_resume():
    rule = PlateauStop()
    for value in (3.0, 2.5, 2.6, 2.7):
        rule.update(value, 1.0)
    resumed = PlateauStop()
    resumed.load_state_dict(rule.state_dict())
    assert resumed.update(2.8, 1.0) == rule.update(2.8, 1.0)
    assert resumed.state_dict() == rule.state_dict()


def test_impossible_settings_are_refused():
    with pytest.raises(ValueError, match="patience >= 1"):
        PlateauStop(window=3, patience=0)
    with pytest.raises(ValueError, match="min_progress"):
        PlateauStop(min_progress=1.5)
