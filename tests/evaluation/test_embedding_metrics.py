"""Embedding metrics: KAD, 1-NN two-sample accuracy, the copy check and the same-collection floor.

Seeded Gaussian "embeddings" stand in for a sound model's; every property is asserted with room
to spare so that no test holds only by float rounding.
"""

import json
import math

import numpy as np
import pytest

from distill.evaluation.embedding_metrics import (
    KAD_SCALE,
    SetScore,
    copy_check,
    kad,
    kad_with_interval,
    median_pairwise_distance,
    mmd2,
    one_nn_accuracy,
    same_collection_floor,
    score_set,
)

DIMS = 16


def draw(n: int, seed: int, shift: float = 0.0, dims: int = DIMS) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dims)) + shift


def test_kad_follows_the_kadtk_convention_on_a_hand_worked_example():
    # Reference pairwise distances 1, 3, 2: median σ = 2, so k(x, y) = exp(-(x - y)² / 8).
    reference = np.array([[0.0], [1.0], [3.0]])
    candidate = np.array([[0.0], [2.0]])
    assert median_pairwise_distance(reference) == pytest.approx(2.0)

    def k(a, b):
        return math.exp(-((a - b) ** 2) / 8.0)

    r, c = reference[:, 0], candidate[:, 0]
    within_r = sum(k(a, b) for i, a in enumerate(r) for j, b in enumerate(r) if i != j) / (3 * 2)
    within_c = sum(k(a, b) for i, a in enumerate(c) for j, b in enumerate(c) if i != j) / (2 * 1)
    cross = sum(k(a, b) for a in r for b in c) / (3 * 2)
    expected = within_r + within_c - 2 * cross
    assert mmd2(reference, candidate) == pytest.approx(expected, rel=1e-9)
    assert kad(reference, candidate) == pytest.approx(KAD_SCALE * expected, rel=1e-9)


def test_kad_is_near_zero_for_one_distribution_and_clearly_positive_for_a_shifted_one():
    reference = draw(60, seed=0)
    same = [kad(reference, draw(60, seed=s)) for s in (1, 2, 3)]
    shifted = [kad(reference, draw(60, seed=s, shift=0.5)) for s in (1, 2, 3)]
    assert min(shifted) > 30.0
    assert max(abs(v) for v in same) < min(shifted) / 4


def test_the_bandwidth_comes_from_the_reference_set_only():
    reference, candidate = draw(30, seed=0), draw(30, seed=1, shift=3.0)
    assert kad(reference, candidate) == pytest.approx(
        kad(reference, candidate, bandwidth=median_pairwise_distance(reference)), rel=1e-12
    )
    assert kad(reference, candidate) != pytest.approx(kad(candidate, reference), rel=1e-3)


def test_bootstrap_intervals_contain_the_point_estimate_and_narrow_with_more_sounds():
    reference = draw(50, seed=0)
    for candidate in (draw(40, seed=1), draw(40, seed=2, shift=0.5), draw(5, seed=3)):
        interval = kad_with_interval(reference, candidate, resamples=400, seed=0)
        assert interval.low < interval.value < interval.high
        assert interval.value == pytest.approx(kad(reference, candidate), rel=1e-9, abs=1e-9)
        assert interval.bandwidth == pytest.approx(median_pairwise_distance(reference))
    few = kad_with_interval(reference, draw(8, seed=4), resamples=400)
    many = kad_with_interval(reference, draw(80, seed=4), resamples=400)
    assert (many.high - many.low) < (few.high - few.low) / 2


def test_the_bootstrap_is_seeded():
    reference, candidate = draw(30, seed=0), draw(20, seed=1)
    first = kad_with_interval(reference, candidate, resamples=200, seed=7)
    assert kad_with_interval(reference, candidate, resamples=200, seed=7) == first
    assert kad_with_interval(reference, candidate, resamples=200, seed=8).low != first.low


def test_one_nn_accuracy_is_near_half_for_one_distribution_and_one_for_separable_sets():
    reference = draw(60, seed=0)
    same = np.mean([one_nn_accuracy(reference, draw(60, seed=s)) for s in (1, 2, 3)])
    assert abs(same - 0.5) < 0.1
    assert one_nn_accuracy(reference, draw(40, seed=1, shift=10.0)) == 1.0


def test_one_nn_accuracy_is_balanced_when_set_sizes_differ():
    # Plain accuracy of 20 against 100 sounds of one distribution is about 0.72 (the big set finds
    # its own kind); balanced, it stays near 0.5.
    values = [one_nn_accuracy(draw(20, seed=s), draw(100, seed=s + 10)) for s in range(4)]
    assert abs(np.mean(values) - 0.5) < 0.1


def test_one_nn_accuracy_falls_far_below_half_for_copies():
    reference = draw(40, seed=0)
    copies = reference + 1e-3 * draw(40, seed=1)
    assert one_nn_accuracy(reference, copies) < 0.1


def test_the_copy_check_flags_exact_and_near_copies_and_not_independent_draws():
    training = draw(40, seed=0, dims=32)
    independent = draw(30, seed=1, dims=32)
    generated = np.concatenate([independent, training[[7]], training[[12]] + 1e-3])
    check = copy_check(training, generated)
    assert check.flagged == (30, 31)
    exact = check.nearest[30]
    assert exact.index == 7 and exact.distance == 0.0 and exact.ratio == 0.0
    assert check.nearest[31].index == 12 and check.nearest[31].ratio < 0.01
    assert all(entry.ratio > 0.5 for entry in check.nearest[:30])


def test_an_exact_copy_is_flagged_even_where_the_collection_holds_a_duplicate():
    training = draw(20, seed=0, dims=32)
    training[5] = training[3]  # the same file twice: that sound's spacing is 0
    check = copy_check(training, np.stack([training[3], training[3] + 1e-6, draw(1, seed=9, dims=32)[0]]))
    assert check.nearest[0].flagged and check.nearest[0].distance == 0.0
    assert not check.nearest[1].flagged and not check.nearest[2].flagged


def test_the_floor_is_near_zero_for_a_homogeneous_set_and_reproducible():
    training = draw(60, seed=0)
    floor = same_collection_floor(training, splits=5, seed=0)
    assert len(floor.values) == 5 and floor.half_size == 30
    assert floor.std > 0.0
    shifted = kad(training, draw(30, seed=1, shift=0.5))
    assert abs(floor.mean) < shifted / 4
    assert same_collection_floor(training, splits=5, seed=0) == floor


def test_a_set_score_round_trips_through_json_and_says_none_when_too_small():
    reference = draw(30, seed=0)
    score = score_set(reference, draw(20, seed=1, shift=0.5), resamples=200)
    assert score.n == 20 and score.n_reference == 30
    assert score.kad_low < score.kad < score.kad_high and 0.5 < score.one_nn_accuracy <= 1.0
    assert SetScore.from_dict(json.loads(json.dumps(score.as_dict()))) == score

    tiny = score_set(reference, draw(1, seed=1))
    assert tiny.kad is None and tiny.kad_low is None and tiny.one_nn_accuracy is None and tiny.n == 1
    assert SetScore.from_dict(json.loads(json.dumps(tiny.as_dict()))) == tiny


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: kad(a, b),
        lambda a, b: kad_with_interval(a, b, resamples=10),
        lambda a, b: one_nn_accuracy(a, b),
        lambda a, b: copy_check(a, b),
        lambda a, b: score_set(a, b),
    ],
    ids=["kad", "kad_with_interval", "one_nn_accuracy", "copy_check", "score_set"],
)
def test_bad_inputs_are_one_clear_value_error(call):
    with pytest.raises(ValueError, match="differ in width"):
        call(draw(10, seed=0, dims=8), draw(10, seed=1, dims=9))
    with pytest.raises(ValueError, match="2-D"):
        call(np.zeros(10), draw(10, seed=1))
    with pytest.raises(ValueError, match="NaN"):
        call(np.full((5, DIMS), np.nan), draw(10, seed=1))


@pytest.mark.parametrize(
    "call",
    [
        lambda: kad(draw(1, seed=0), draw(10, seed=1)),
        lambda: kad(draw(10, seed=0), draw(1, seed=1)),
        lambda: one_nn_accuracy(draw(10, seed=0), draw(1, seed=1)),
        lambda: copy_check(draw(1, seed=0), draw(3, seed=1)),
        lambda: same_collection_floor(draw(3, seed=0)),
        lambda: median_pairwise_distance(np.ones((5, DIMS))),
    ],
    ids=["kad-reference", "kad-candidate", "one-nn", "copy-check", "floor", "identical"],
)
def test_too_few_or_degenerate_points_are_a_value_error(call):
    with pytest.raises(ValueError):
        call()
