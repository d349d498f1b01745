"""What a run logged: CSV launches merged oldest first, epochs of direct-logged steps, the best
step, and the val - train gap (with a vocoder's val/loss alias left out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import epoch_rows, write_csv_launch

from distill.report.history import MetricHistory, overfitting_gaps, read_csv_history


def test_launches_are_read_oldest_first_and_a_later_row_wins_for_its_step(tmp_path: Path) -> None:
    write_csv_launch(
        tmp_path,
        "2026-01-01_10-00-00",
        [
            {"train/loss": 3.0, "epoch": 0, "step": 1},
            {"train/loss": 2.0, "epoch": 0, "step": 2},
            {"codebook/train/level0/utilization": 0.4, "step": 3},  # logged straight to the logger
            {"train/loss": 1.5, "epoch": 1, "step": 4},
        ],
    )
    # A resume from step 2's checkpoint logs steps 3 and 4 again.
    write_csv_launch(
        tmp_path,
        "2026-01-01_11-00-00",
        [{"train/loss": 1.8, "epoch": 1, "step": 3}, {"train/loss": 1.2, "epoch": 1, "step": 4}],
    )
    history = read_csv_history(tmp_path)
    assert history.series("train/loss").steps == (1, 2, 3, 4)
    assert history.series("train/loss").values == (3.0, 2.0, 1.8, 1.2)
    assert history.epoch_of(3) == 1  # the resumed launch said so
    assert history.per_epoch("train/loss") == {0: 2.5, 1: pytest.approx(1.5)}
    assert history.best_step("train/loss", "min") == 4 and history.best_step("train/loss", "max") == 1
    assert history.best_step("val/loss", "min") is None


def test_a_step_without_an_epoch_takes_the_epoch_of_the_step_before() -> None:
    history = MetricHistory.from_rows(
        [
            {"train/loss": "1.0", "epoch": "0", "step": "4"},
            {"codebook/train/level0/utilization": "0.5", "epoch": "", "step": "6"},
            {"train/loss": "0.5", "epoch": "1", "step": "8"},
            {"train/loss": "nan", "epoch": "1", "step": "9"},  # not a number: dropped
        ]
    )
    assert history.epoch_of(6) == 0 and history.epoch_of(8) == 1 and history.epoch_of(2) == 0
    assert history.series("train/loss").steps == (4, 8)
    assert history.per_epoch("codebook/train/level0/utilization") == {0: 0.5}
    assert not read_csv_history(Path("/no/such/run"))


def test_a_growing_gap_is_found_and_a_vocoders_val_loss_alias_is_not_compared() -> None:
    prior = {gap.measure: gap for gap in overfitting_gaps(MetricHistory.from_rows(epoch_rows("prior")))}
    assert list(prior) == ["loss"]
    assert prior["loss"].values == pytest.approx([0.1, 0.4, 0.7, 1.0, 1.3]) and prior["loss"].grew(3)

    vocoder = overfitting_gaps(MetricHistory.from_rows(epoch_rows("vocoder")))
    assert [gap.measure for gap in vocoder] == ["mstft"]  # not val/loss (M-STFT) - train/loss (a sum)
    assert not vocoder[0].grew(3)
    vqvae = overfitting_gaps(MetricHistory.from_rows(epoch_rows("vqvae")))
    assert [gap.measure for gap in vqvae] == ["loss"] and not vqvae[0].grew(3)
