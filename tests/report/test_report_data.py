"""ReportData from a tiny packaged model and from run folders: records, sounds, what is skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import (
    EVALUATION,
    VAL_FILES,
    packaged_model,
    point_dataset_at,
    vqvae_csv_rows,
    write_csv_launch,
)

from distill.bundle.format import read_manifest
from distill.model import DistillModel
from distill.report.build import model_report, run_report
from distill.report.sounds import generated_clips, held_out_files

SECONDS = 1.0


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    return packaged_model(tmp_path_factory.mktemp("report_model"))


@pytest.fixture(scope="module")
def model_data(packaged):
    model_path, _, _ = packaged
    return model_report(
        DistillModel.load(model_path), source=str(model_path), sounds=2, seed=0, max_seconds=SECONDS
    )


def test_a_model_report_gathers_every_record_of_the_model_file(model_data, packaged) -> None:
    model_path, _, sounds = packaged
    meta = read_manifest(model_path).metadata
    assert [t.component for t in model_data.training] == ["vqvae", "prior", "vocoder"]
    # The weights a model holds are its packaged checkpoints: their steps are marked.
    assert [t.best_step for t in model_data.training] == [
        meta["training"][c]["steps"] for c in ("vqvae", "prior", "vocoder")
    ]
    assert all(t.per_epoch_only for t in model_data.training)
    prior = model_data.training[1].history
    assert prior.series("val/nll_level1").values[0] == pytest.approx(2.5)
    assert [row["utilization"] for row in model_data.codebook.train] == [0.9, 0.55]
    assert model_data.codebook.warnings[0].startswith("epoch 1: codebook level 1")
    assert model_data.codebook.size == {"levels": 2, "size": 64}
    assert model_data.memorization["window"] == 2 and model_data.memorization_last is None
    assert "recorded no check of its final weights" in model_data.notes["memorization"][0]
    assert model_data.vocoder["quality"]["mstft"] == 2.0 and model_data.evaluation == EVALUATION
    assert model_data.dataset["root"] == str(sounds)
    assert "evaluation" not in model_data.notes  # it was evaluated


def test_generated_sounds_are_seeded_short_and_come_with_their_mel_and_codes(model_data, packaged) -> None:
    assert [clip.title for clip in model_data.generated] == ["generated, seed 0", "generated, seed 1"]
    for clip in model_data.generated:
        assert 0 < len(clip.audio) <= SECONDS * clip.sample_rate and clip.original is None
        assert clip.mel.shape[0] == 128 and clip.codes.shape[:2] == (2, 8) and clip.codebook_size == 64
    again, notes = generated_clips(DistillModel.load(packaged[0]), count=1, seed=0, max_seconds=SECONDS)
    assert notes == [] and np.array_equal(again[0].audio, model_data.generated[0].audio)
    assert not np.array_equal(model_data.generated[0].codes, model_data.generated[1].codes)  # other seeds


def test_held_out_files_are_reconstructed_and_played_beside_the_recording(model_data) -> None:
    clips = model_data.reconstructions
    assert [clip.title for clip in clips] == [f"held-out {name}" for name in VAL_FILES]
    for clip in clips:
        assert clip.audio is not None and clip.original is not None
        assert len(clip.original) == round(0.8 * 44100)  # shorter than the cap: whole
        assert clip.codes.shape[0] == 2 and clip.mel.shape[1] >= len(clip.original) // 512
    assert "reconstructions" not in model_data.notes


def test_held_out_files_no_longer_on_disk_are_skipped_with_a_sentence(tmp_path: Path) -> None:
    files, notes = held_out_files(
        {"root": str(tmp_path / "gone"), "val_files": VAL_FILES}, sample_rate=44100, count=2, max_seconds=1.0
    )
    assert files == [] and "no longer on disk" in notes[0] and str(tmp_path / "gone") in notes[0]
    _, notes = held_out_files(
        {"root": str(tmp_path), "val_files": []}, sample_rate=44100, count=2, max_seconds=1.0
    )
    assert "no held-out files" in notes[0]


def test_a_vqvae_run_report_reads_its_csv_logs_and_shows_reconstructions_as_mels(
    packaged, tmp_path: Path
) -> None:
    _, runs, sounds = packaged
    run_dir = shutil.copytree(runs.vqvae, tmp_path / "vqvae")
    write_csv_launch(run_dir, "2026-01-01_10-00-00", vqvae_csv_rows())
    point_dataset_at(run_dir, sounds)
    data = run_report(run_dir, sounds=1, max_seconds=SECONDS)
    training = data.training[0]
    assert training.component == "vqvae" and not training.per_epoch_only
    assert training.best_step == 12 and training.best_label == "best by val/loss"  # the lowest val/loss row
    assert training.history.series("codebook/train/level0/utilization").steps == (2, 4, 6, 8, 10, 12)
    assert [row["level"] for row in data.codebook.val] == [1, 0]
    [clip] = data.reconstructions
    assert clip.audio is None and clip.original is not None  # no vocoder in a VQ-VAE run
    assert "mels only" in data.notes["reconstructions"][-1]
    assert data.memorization is None and data.vocoder is None


def test_prior_and_vocoder_run_reports_show_what_those_runs_have(packaged) -> None:
    _, runs, _ = packaged
    prior = run_report(runs.prior, sounds=2, max_seconds=SECONDS)
    assert prior.training[0].component == "prior" and prior.training[0].per_epoch_only  # no CSV: summary rows
    assert prior.memorization["n_generated"] == 8 and prior.codebook is None and prior.reconstructions == []
    vocoder = run_report(runs.vocoder, sounds=2, max_seconds=SECONDS)
    assert (
        vocoder.vocoder["quality"]["mstft"] == 2.0
        and vocoder.codebook is None
        and vocoder.memorization is None
    )


def test_a_run_still_training_shows_its_logs_so_far(packaged, tmp_path: Path) -> None:
    _, runs, _ = packaged
    run_dir = shutil.copytree(runs.vqvae, tmp_path / "running")
    (run_dir / "summary.json").unlink()
    write_csv_launch(run_dir, "2026-01-01_10-00-00", vqvae_csv_rows())
    data = run_report(run_dir, sounds=2, max_seconds=SECONDS)
    assert data.training[0].history.series("train/loss").steps[-1] == 12
    assert "no summary.json yet" in data.notes["training"][0]
    assert dict(data.facts)["state"].startswith("no summary.json")
    assert data.codebook is None and data.reconstructions == []
    json.dumps(dict(data.facts))  # plain text facts
