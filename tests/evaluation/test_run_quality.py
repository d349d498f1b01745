"""Quality measured when a training run ends: the model the run makes, on the sound-effects
embedding, as quality/* metrics in the summary, on the loggers and as a sweep's objective."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from conftest import SHORT_RUN, TINY_PRIOR, TINY_VQVAE, make_sound_folder
from wandb_offline import wandb_records

from distill.cli.train_commands import _train_job
from distill.errors import UserError
from distill.evaluation.run_quality import measure_run
from distill.report.history import read_csv_history
from distill.runs import RunSummary
from distill.train import train

pytestmark = pytest.mark.slow
pytest.importorskip("aisfx", reason="the embedding's weights come with the aisfx package (make install)")


def test_a_vqvae_run_with_a_vocoder_measures_its_codes_logs_them_and_returns_its_objective(
    trained_runs, compose_cfg, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("wandb", reason="W&B is the optional extra distill[wandb]")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder = make_sound_folder(tmp_path / "sounds", 10, seconds=1.0)
    objective = "quality/kad_heldout_via_codes"
    cfg = compose_cfg(
        [
            *TINY_VQVAE,
            *SHORT_RUN,
            f"data.path={folder}",
            "data=small",
            "data.val_fraction=0.3",  # 3 held-out files: a KAD needs at least two
            "logger=many",
            f"vocoder_run={trained_runs['vocoder']}",
            f"objective={objective}",
        ]
    )
    returned = _train_job(cfg)

    run_dir = tmp_path / "run"
    summary = RunSummary.read(run_dir)
    stages = summary.quality["stages"]["stages"]
    assert set(k for k, v in stages.items() if v is not None) == {"held-out", "held-out via codes"}
    assert stages["held-out via codes"]["n"] == 3 and stages["held-out via codes"]["n_reference"] == 7
    kad = stages["held-out via codes"]["kad"]
    # What the sweeper gets is the number in the summary; a KAD of real sets is a finite number.
    assert returned == pytest.approx(kad) and abs(kad) < 1e4
    assert "Vocos" in summary.quality["vocoder"]
    # The same number on the loggers: the CSV history and the offline W&B run.
    assert list(read_csv_history(run_dir).series(objective).values) == [pytest.approx(kad)]
    [offline] = (run_dir / "wandb").glob("offline-run-*")
    logged = _wandb_history(offline)
    for _ in range(20):  # W&B's own process may still be writing the file's last records
        if objective in logged:
            break
        time.sleep(0.5)
        logged = _wandb_history(offline)
    assert logged[objective] == pytest.approx(kad)
    assert "quality/one_nn_heldout_via_codes" in logged and "quality/kad_floor" in logged


def _wandb_history(offline: Path) -> dict:
    logged = {}
    for record in wandb_records(offline):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                logged[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return logged


def test_a_prior_run_is_measured_by_what_it_generates(trained_runs) -> None:
    quality = measure_run(
        {"vqvae": trained_runs["vqvae"], "prior": trained_runs["prior"], "vocoder": trained_runs["vocoder"]},
        stages=["generated"],
        count=3,
        seed=0,
    )
    assert set(quality.metrics()) == {
        "quality/kad_floor",
        "quality/kad_generated",
        "quality/one_nn_generated",
    }
    assert quality.table.stages["generated"].n == 3
    assert any("generated" in line for line in quality.lines())


def test_without_a_vocoder_the_run_ends_normally_and_says_why_nothing_was_measured(
    trained_runs, compose_cfg, tmp_path: Path, caplog
) -> None:
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=1.0)
    with caplog.at_level(logging.INFO):
        metrics, built = train(compose_cfg([*TINY_VQVAE, *SHORT_RUN, f"data.path={folder}", "data=small"]))
    assert built["summary"].quality is None and not any(name.startswith("quality/") for name in metrics)
    assert any("Quality not measured" in r.message and "vocoder" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ([*TINY_VQVAE, "objective=quality/kad_generated"], "not measured by this run"),
        (
            [*TINY_VQVAE, "objective=quality/kad_heldout_via_codes", "quality.stages=[]"],
            "quality.stages is empty",
        ),
        ([*TINY_VQVAE, "objective=quality/kad_heldout_via_codes"], "vocoder_run="),
        ([*TINY_VQVAE, "quality.stages=[heldout]"], "the stages are"),
    ],
)
def test_an_objective_the_run_cannot_measure_is_refused_before_training(
    compose_cfg, sound_folder: Path, overrides, words
) -> None:
    cfg = compose_cfg([*overrides, *SHORT_RUN, f"data.path={sound_folder}", "data=small"])
    with pytest.raises(UserError, match=words):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_the_prior_config_measures_generated_sounds_and_shares_one_vocoder_setting(
    compose_cfg, tmp_path
) -> None:
    cfg = compose_cfg([*TINY_PRIOR, f"model.vqvae={tmp_path}", "vocoder_run=/runs/voc"])
    assert list(cfg.quality.stages) == ["generated"]
    assert cfg.package_components.vocoder == "/runs/voc"
    assert cfg.callbacks.prior_samples.vocoder.run == "/runs/voc"
