"""Studio training jobs: a plan's checks are one sentence each, and each stage runs the command a
user would type (linked to the stages before it, resumed when it was cut short)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.errors import UserError
from distill.studio.jobs import PACKAGE, TrainingJob, TrainingPlan, hhmmss, stage_command


def _plan(folder: Path, **changes) -> TrainingPlan:
    settings = dict(
        name="drums",
        data=str(folder),
        stages=("vocoder", "vqvae", "prior", PACKAGE),
        budgets_s={"vocoder": 60, "vqvae": 120, "prior": 90},
        overrides={"prior": ("trainer=gpu",)},
    )
    return TrainingPlan(**{**settings, **changes})


def test_a_budget_is_lightnings_max_time() -> None:
    assert hhmmss(90) == "00:00:01:30"
    assert hhmmss(3 * 86400 + 3661) == "03:01:01:01"


@pytest.mark.parametrize(
    ("changes", "told"),
    [
        (dict(name=""), "Model name"),
        (dict(name="a/b"), "Model name"),
        (dict(data="/no/such/folder"), "does not exist"),
        (dict(data=""), "does not exist"),
        (dict(stages=()), "at least one"),
        (dict(stages=("vocoder", "gan")), "Unknown training stage 'gan'"),
        (dict(budgets_s={"vocoder": 0, "vqvae": 120, "prior": 90}), "vocoder's time budget"),
        (dict(budgets_s={"vocoder": 60, "vqvae": -5, "prior": 90}), "vqvae's time budget"),
        (dict(budgets_s={"vocoder": 60, "vqvae": 120}), "prior's time budget must be more than 0"),
        (dict(budgets_s={"vocoder": 10**9, "vqvae": 120, "prior": 90}), "at most 7 days"),
    ],
)
def test_a_bad_plan_is_one_sentence(tmp_path: Path, changes: dict, told: str) -> None:
    with pytest.raises(UserError, match=told) as caught:
        _plan(tmp_path, **changes).check()
    assert "\n" not in str(caught.value)


def test_packaging_alone_needs_no_sound_folder(tmp_path: Path) -> None:
    _plan("", stages=(PACKAGE,), budgets_s={}).check()


def test_each_stage_runs_what_a_user_would_type(tmp_path: Path) -> None:
    folder, library = tmp_path / "runs" / "drums", tmp_path / "library"
    plan = _plan(tmp_path)
    vocoder = stage_command(plan, folder, "vocoder", library)
    assert vocoder[1:3] == ["-m", "distill.cli.train_commands"]
    assert "model=vocoder" in vocoder and "trainer.max_time=00:00:01:00" in vocoder
    assert f"hydra.run.dir={folder / 'vocoder'}" in vocoder
    assert not any(part.startswith(("resume=", "vocoder_run=")) for part in vocoder)

    # The vocoder has ended: the RVQ-VAE and the prior render through it; the prior reads the codes.
    (folder / "vocoder").mkdir(parents=True)
    (folder / "vocoder" / "summary.json").write_text("{}")
    prior = stage_command(plan, folder, "prior", library)
    assert f"vocoder_run={folder / 'vocoder'}" in prior
    assert f"model.vqvae={folder / 'vqvae'}" in prior
    assert prior[-1] == "trainer=gpu"  # the stage's own overrides, last, so they win

    # A stage cut short (a checkpoint, no summary) continues where it stopped.
    (folder / "vqvae" / "checkpoints").mkdir(parents=True)
    (folder / "vqvae" / "checkpoints" / "interrupted.ckpt").write_bytes(b"")
    assert f"resume={folder / 'vqvae'}" in stage_command(plan, folder, "vqvae", library)

    package = stage_command(plan, folder, PACKAGE, library)
    assert package[1:5] == ["-m", "distill.cli.main", "package", "--name"]
    assert ["--library", str(library)] == package[6:8]
    assert "--vocoder" in package and "--vqvae" not in package  # only the runs that have ended


def test_a_job_cannot_be_cancelled_or_resumed_when_that_makes_no_sense(tmp_path: Path) -> None:
    job = TrainingJob(tmp_path / "runs" / "drums")
    (job.folder).mkdir(parents=True)
    (job.folder / "studio-job.json").write_text(
        '{"name": "drums", "data": "", "stages": ["package"], "budgets_s": {}, "overrides": {}}'
    )
    (job.folder / "studio-state.json").write_text('{"state": "done", "stage": null, "pid": 1, "message": ""}')
    with pytest.raises(UserError, match="not training"):
        job.cancel()
    (job.folder / "packaged.json").write_text("{}")
    with pytest.raises(UserError, match="nothing to resume"):
        job.resume(library=tmp_path / "library")


def test_a_job_whose_runner_died_reads_as_stopped(tmp_path: Path) -> None:
    job = TrainingJob(tmp_path)
    (tmp_path / "studio-job.json").write_text('{"name": "x", "data": "", "stages": ["package"]}')
    (tmp_path / "studio-state.json").write_text('{"state": "running", "stage": "vqvae", "pid": 999999999}')
    assert job.state.state == "stopped"
    assert not job.running
