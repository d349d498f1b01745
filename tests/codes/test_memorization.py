import json

import numpy as np
import pytest
import torch

from distill.codes.memorization import TrainingIndex, memorization_report

Q, R, K = 4, 8, 64
SETTINGS = dict(window=4, ratio_threshold=2.0, min_share=0.05, similarity_ratio_threshold=1.5)
VERBATIM_ONLY = {**SETTINGS, "similarity_ratio_threshold": 100.0}  # only the verbatim rule decides


def grid(columns: int, seed: int) -> torch.Tensor:
    return torch.randint(0, K, (Q, R, columns), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def training() -> list[torch.Tensor]:
    return [grid(30, seed) for seed in range(5)]


def test_copy_of_training_grid_is_fully_memorized(training):
    index = TrainingIndex(training)
    assert index.window_share(training[2], window=4) == 1.0
    assert index.longest_run(training[2]) == 30
    # A middle slice of a training grid, as numpy: still a full match.
    assert index.window_share(training[0][..., 5:20].numpy(), window=4) == 1.0
    assert index.longest_run(training[0][..., 5:20]) == 15


def test_random_grid_is_not_memorized(training):
    index = TrainingIndex(training)
    assert index.window_share(grid(40, 99), window=4) == 0.0
    assert index.longest_run(grid(40, 99)) == 0


def test_spliced_grid_gives_partial_share_and_longest_run(training):
    index = TrainingIndex(training)
    # 6 copied columns, 4 random, 8 copied from another file.
    spliced = torch.cat([training[0][..., :6], grid(4, 50), training[3][..., 10:18]], dim=-1)
    # windows of 4 over 18 columns: 15; fully copied ones: 3 (first part) + 5 (last part).
    assert index.window_share(spliced, window=4) == pytest.approx(8 / 15)
    assert index.longest_run(spliced) == 8
    # Runs do not bridge training files: two copied parts glued together are not one run.
    glued = torch.cat([training[1][..., :5], training[2][..., :7]], dim=-1)
    assert index.longest_run(glued) == 7
    assert index.window_share(spliced[..., :3], window=4) is None


def test_report_flags_copying_and_not_novelty(training):
    heldout = [grid(30, 100 + seed) for seed in range(3)]
    novel = [grid(30, 200 + seed) for seed in range(4)]
    copied = [training[0], training[1][..., :20], grid(30, 300), training[4]]

    clean = memorization_report(
        generated=novel,
        training=training,
        heldout=heldout,
        **SETTINGS,
    )
    assert clean.generated_share_mean == 0.0 and clean.heldout_share_mean == 0.0
    assert clean.share_ratio is None and not clean.flagged

    bad = memorization_report(
        generated=copied,
        training=training,
        heldout=heldout,
        **SETTINGS,
    )
    assert bad.generated_share_mean == pytest.approx(0.75)
    assert bad.generated_share_max == 1.0 and bad.generated_run_max == 30
    assert bad.generated_run_mean == pytest.approx((30 + 20 + 0 + 30) / 4)
    assert bad.flagged and bad.n_generated == 4 and bad.n_heldout == 3
    assert json.loads(json.dumps(bad.to_dict()))["flagged"] is True


def test_report_ratio_against_a_nonzero_baseline(training):
    half_copied = torch.cat([training[0][..., :10], grid(10, 400)], dim=-1)  # share 7/17
    heldout = [half_copied]
    generated = [training[1]]  # share 1.0, ratio 17/7 ~ 2.43
    report = memorization_report(
        generated=generated,
        training=training,
        heldout=heldout,
        **{**VERBATIM_ONLY, "ratio_threshold": 3.0},
    )
    assert report.share_ratio == pytest.approx(17 / 7)
    assert not report.flagged  # below 3x the held-out baseline
    report = memorization_report(
        generated=generated,
        training=training,
        heldout=heldout,
        **VERBATIM_ONLY,
    )
    assert report.flagged


def test_short_heldout_grids_and_errors(training):
    report = memorization_report(
        generated=[training[0]],
        training=training,
        heldout=[grid(2, 7)],
        **SETTINGS,
    )
    assert report.heldout_share_mean is None and report.heldout_run_max == 0 and report.flagged
    with pytest.raises(ValueError, match="window=4"):
        memorization_report(
            generated=[grid(3, 1)],
            training=training,
            heldout=[],
            **SETTINGS,
        )
    with pytest.raises(ValueError, match="codes per column"):
        TrainingIndex(training).window_share(np.zeros((2, 8, 10), dtype=np.int64), window=4)


def test_near_copies_are_flagged_by_similarity_though_no_window_is_verbatim(training):
    heldout = [grid(30, 100 + seed) for seed in range(3)]
    noise = torch.Generator().manual_seed(9)
    near_copies = []
    for source in training[:4]:
        changed = torch.rand(source.shape, generator=noise) < 0.3  # 30 % of codes differ
        near_copies.append(torch.where(changed, (source + 1) % K, source))
    settings = {**SETTINGS, "window": 2}
    report = memorization_report(generated=near_copies, training=training, heldout=heldout, **settings)
    assert report.generated_share_mean == 0.0  # 64 codes per window: no window survives intact
    assert report.generated_similarity_mean == pytest.approx(0.7, abs=0.05)
    assert report.similarity_ratio > 3 and report.flagged
    novel = [grid(30, 200 + seed) for seed in range(4)]
    clean = memorization_report(generated=novel, training=training, heldout=heldout, **settings)
    assert clean.similarity_ratio == pytest.approx(1.0, abs=0.2) and not clean.flagged


def test_nearest_similarity_of_a_training_slice_is_one(training):
    index = TrainingIndex(training)
    assert index.nearest_similarity(training[3][..., 4:12], window=3) == 1.0
    assert index.nearest_similarity(training[3][..., :2], window=3) is None
