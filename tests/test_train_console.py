"""What a person sees around training: run folders per model kind, the printed next step, a console
with each line once, Hydra's help, one-line errors for bad values, W&B run metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHORT_RUN, TINY_VQVAE, make_sound_folder
from test_train import run_train_py

from distill.config import options
from distill.config.schema import SettingError, TrainerSchema, check_node
from distill.runs import RunSummary


@pytest.mark.slow
def test_a_fresh_run_prints_each_line_once_and_ends_with_its_folder_and_next_step(tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    result = run_train_py([*TINY_VQVAE, *SHORT_RUN, f"data.path={folder}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    (run_dir,) = (tmp_path / "logs" / "vqvae" / "runs").iterdir()  # runs land under their model kind
    lines = [line.strip() for line in console.splitlines() if line.strip()]
    # Lightning's INFO lines once each (they came out twice: bare and through the app's handler).
    assert sum("GPU available" in line for line in lines) == 1
    assert not [line for line in lines if line.startswith("INFO:")]
    for noise in (
        "litlogger",
        "Tip:",
        "TPU available",
        "was called without a model",
        'ckpt_path="last"',
        "LeafSpec",
    ):
        assert noise not in console, noise
    summary = RunSummary.read(run_dir)
    assert f"Run folder: {run_dir}" in console
    assert f"Best checkpoint: {summary.best_checkpoint(run_dir)}" in console
    assert f"Next: distill train-prior --vqvae {run_dir}" in console
    assert lines[-1].endswith(f"Next: distill train-prior --vqvae {run_dir}")


@pytest.mark.slow
def test_hydra_help_names_the_app_shows_examples_and_only_user_groups(tmp_path: Path):
    result = run_train_py(["--help"], tmp_path)
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("distill train:") and "powered by Hydra" not in text
    assert text.count("python train.py ") >= 3
    for internal in ("model_setup", "_base_"):
        assert internal not in text
    listed = {
        line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and len(line.split()) > 1
    }
    for group in ("model", "data", "codebook", "trainer", "callbacks", "logger", "experiment", "debug"):
        assert all(option in listed[group] for option in options(group)), group


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.max_steps=abc", "trainer.max_steps=abc is not valid: it takes a whole number"),
        ("data.batch_size=0", "data.batch_size=0 is not valid: it must be at least 1"),
        ("trainer=gpu", "trainer=gpu asks for a CUDA GPU, but this torch"),
        # Hydra's own composition errors, which it would print as a trimmed traceback (exit 1).
        ("model=nonexistent", "Could not find 'model/nonexistent' Available options in 'model': prior"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, override: str, expected: str):
    import torch

    if override == "trainer=gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_train_py([f"data.path={tmp_path}", override], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    if override == "trainer=gpu":
        assert "--index-url https://download.pytorch.org/whl/cu" in lines[0]


def test_schema_accepts_the_yaml_defaults_and_names_a_bad_key(compose_cfg):
    cfg = compose_cfg(["data.path=/x"])
    check_node(cfg.trainer, TrainerSchema, "trainer")  # the shipped defaults pass
    cfg.trainer.max_epochs = "many"
    with pytest.raises(
        SettingError, match=r"trainer.max_epochs=many is not valid: it takes a whole number or null"
    ):
        check_node(cfg.trainer, TrainerSchema, "trainer")


def test_wandb_without_the_package_is_one_clear_error(compose_cfg, monkeypatch):
    import importlib.util

    from distill.config.schema import check_loggers

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    cfg = compose_cfg(["data.path=/x", "logger=wandb"])
    with pytest.raises(SettingError, match=r"pip install 'distill\[wandb\]'"):
        check_loggers(cfg.logger)


@pytest.mark.slow
def test_wandb_runs_carry_name_kind_group_and_tags(compose_cfg, tmp_path: Path, monkeypatch):
    import wandb

    from distill.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    seen = {}
    finish = wandb.finish

    def record_then_finish(*args, **kwargs):
        if wandb.run is not None:
            seen.update(
                name=wandb.run.name, job_type=wandb.run.job_type, group=wandb.run.group, tags=wandb.run.tags
            )
        return finish(*args, **kwargs)

    monkeypatch.setattr(wandb, "finish", record_then_finish)
    folder = make_sound_folder(tmp_path / "drums", 6, seconds=0.8)
    train(
        compose_cfg([*TINY_VQVAE, *SHORT_RUN, "trainer.max_epochs=1", "logger=wandb", f"data.path={folder}"])
    )
    assert seen["name"] == "vqvae drums run"
    assert seen["job_type"] == "vqvae"
    assert seen["group"] == "drums"
    assert set(seen["tags"]) == {"small", "drums"}
