"""Reports of real (tiny) training runs, and what a run with W&B logs: the report's figures as
media and best-so-far summaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SHORT_RUN, TINY_VQVAE, make_sound_folder, package_trained
from test_report_page import Page
from wandb_offline import wandb_records

from distill.model import DistillModel
from distill.report.build import model_report, run_report
from distill.report.history import read_csv_history
from distill.report.page import render_page
from distill.train import train

pytestmark = pytest.mark.slow


def test_a_wandb_run_gets_the_report_figures_and_best_so_far_summaries(
    compose_cfg, tmp_path: Path, monkeypatch
):
    pytest.importorskip("wandb", reason="W&B is the optional extra distill[wandb]")
    import json

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder = make_sound_folder(tmp_path / "sounds", 8, seconds=1.0)
    overrides = [
        *TINY_VQVAE,
        *SHORT_RUN,
        "trainer.max_epochs=3",
        "logger=many",
        f"data.path={folder}",
        "data=small",
    ]
    train(compose_cfg([*overrides, "callbacks.codebook_health.every_n_steps=2"]))
    run_dir = tmp_path / "run"
    [offline] = (run_dir / "wandb").glob("offline-run-*")

    media = sorted(
        path.name.split("_")[0] for path in (offline / "files" / "media" / "images" / "report").glob("*.png")
    )
    assert media == ["codebook", "losses"]  # codebook_health_<step>_<hash>.png, losses_vqvae_...
    records = list(wandb_records(offline))
    summaries: dict[str, dict] = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            for update in record.summary.update:
                key = "/".join(update.nested_key) or update.key
                summaries[key] = json.loads(update.value_json)
    assert summaries["report/losses_vqvae/_type"] == "image-file"
    assert summaries["report/codebook_health/_type"] == "image-file"
    # Which codes carry the sound: one usage histogram per level and split (64 codes: 64 bins).
    for key in ("codebook/train/level0/usage", "codebook/val/level1/usage"):
        assert summaries[f"{key}/_type"] == "histogram" and len(summaries[f"{key}/values"]) == 64

    defined = {
        record.metric.name: record.metric.summary
        for record in records
        if record.WhichOneof("record_type") == "metric" and record.metric.name
    }
    assert defined["val/loss"].min and defined["train/loss"].min
    assert defined["codebook/train/level1/utilization"].max and defined["codebook/val/level0/perplexity"].max
    assert defined["codebook/train/level0/dead_codes"].min
    # The run summary holds the best validation loss, not the last.
    names = read_csv_history(run_dir).names()
    assert {"codebook/train/level0/utilization", "codebook/val/level1/dead_codes", "lr/vqvae"} <= set(names)
    val = read_csv_history(run_dir).series("val/loss").values
    assert len(val) == 3 and summaries["val/loss"] == {"min": pytest.approx(min(val))}
    assert summaries["codebook/train/level0/utilization"]["max"] == pytest.approx(
        max(read_csv_history(run_dir).series("codebook/train/level0/utilization").values)
    )


def test_reports_of_real_tiny_runs_and_of_the_model_they_package(trained_runs, tmp_path: Path) -> None:
    # Metric names as a dashboard groups them: codebook/<split>/level<i>/..., lr/<what it trains>.
    vqvae_names = read_csv_history(trained_runs["vqvae"]).names()
    assert {"lr/vqvae", "codebook/val/level0/utilization", "codebook/val/level1/dead_codes"} <= set(
        vqvae_names
    )
    assert {"lr/generator", "lr/discriminator"} <= set(read_csv_history(trained_runs["vocoder"]).names())
    assert "lr/prior" in read_csv_history(trained_runs["prior"]).names()
    assert not [name for name in vqvae_names if name.startswith("val/codebook") or name.startswith("lr-")]

    vqvae = run_report(trained_runs["vqvae"], sounds=2, max_seconds=1.0)
    # ModelCheckpoint's pick: the best file names its epoch (CSV rows log validation one step
    # before the checkpoint's global step count, so the epoch is what they share).
    best_file = next((trained_runs["vqvae"] / "checkpoints").glob("best-*.ckpt")).name
    training = vqvae.training[0]
    assert training.history.epoch_of(training.best_step) == int(re.match(r"best-(\d+)-", best_file)[1])
    assert vqvae.reconstructions and all(clip.audio is None for clip in vqvae.reconstructions)
    assert Page(render_page(vqvae)).sections == ["overview", "training", "codebook", "sounds"]
    prior = run_report(trained_runs["prior"], sounds=2, max_seconds=1.0)
    assert prior.memorization is not None and prior.memorization_last is not None
    assert Page(render_page(prior)).sections == ["overview", "training", "prior"]
    vocoder = run_report(trained_runs["vocoder"], sounds=2, max_seconds=1.0)
    assert vocoder.vocoder["quality"] is not None
    assert Page(render_page(vocoder)).sections == ["overview", "training", "vocoder"]

    packaged = package_trained(trained_runs, name="tiny", output=tmp_path / "tiny.distillgan")
    data = model_report(
        DistillModel.load(packaged.path), source=str(packaged.path), sounds=2, seed=0, max_seconds=1.0
    )
    # The model file's loss history carries the validation codebook health per epoch.
    assert "codebook/val/level0/utilization" in data.training[0].history.names()
    assert data.memorization_last == prior.memorization_last  # read from the prior's run folder
    page = Page(render_page(data))
    assert page.sections == ["overview", "training", "codebook", "prior", "vocoder", "evaluation", "sounds"]
    assert len(page.players) == 2 + 2 * len(data.reconstructions)
