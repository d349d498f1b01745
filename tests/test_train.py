"""Smoke runs of train(cfg) and of train.py: VQ-VAE on tiny synthetic audio, resume, Ctrl-C, sweeps, DDP."""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import ROOT, SHORT_RUN, TINY_VQVAE, make_sound_folder

from distill.runs import RunSummary
from distill.train import train

pytestmark = pytest.mark.slow


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    """Rows of every launch's metrics.csv in the run, oldest launch first."""
    rows = []
    for path in sorted((run_dir / "csv").glob("*/metrics.csv")):
        with open(path) as handle:
            rows += list(csv.DictReader(handle))
    return rows


def test_vqvae_run_logs_health_warns_writes_summary_and_resumes(compose_cfg, tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 8, seconds=1.0)
    overrides = [
        *TINY_VQVAE,
        *SHORT_RUN,
        "data=auto",
        f"data.path={folder}",
        "callbacks.codebook_health.every_n_steps=2",
        "callbacks.codebook_health.min_utilization=1.01",  # forces the low-utilization warning
        "callbacks.codebook_health.warn_from_epoch=1",
        "callbacks.reconstruction_preview.every_n_epochs=1",
    ]
    metrics, objects = train(compose_cfg(overrides))
    run_dir = tmp_path / "run"
    assert objects["trainer"].global_step == 6
    assert objects["cfg"].data.tier.name == "small"
    rows = read_metrics(run_dir)
    health_rows = [r for r in rows if r.get("codebook/train/level1/utilization")]
    assert [int(r["step"]) for r in health_rows] == [2, 4, 6]  # every 2 optimizer steps
    assert any(r.get("codebook/val/level0/perplexity") for r in rows)
    assert 0 < metrics["codebook/val/level0/utilization"] <= 1
    summary = RunSummary.read(run_dir).to_dict()
    assert [row["level"] for row in summary["codebook_health"]] == [0, 1]
    assert [row["level"] for row in summary["codebook_health_val"]] == [0, 1]
    assert (
        summary["codebook_warnings"]
        and "epoch 1: codebook level 0 utilization" in summary["codebook_warnings"][0]
    )
    assert len(summary["loss_history"]) == 2 and "val/mel_l1" in summary["loss_history"][-1]
    # The texture head (on by default) learns beside the mean, and its weights are in the run.
    assert math.isfinite(metrics["val/texture_nll"]) and any(r.get("train/texture_nll") for r in rows)
    assert any(key.startswith("net.decoder.texture.") for key in objects["model"].state_dict())
    assert summary["dataset"]["file_count"] == 8
    assert (run_dir / "config.yaml").exists()
    assert summary["checkpoints"]["last"].endswith("checkpoints/last.ckpt")
    assert torch.load(summary["checkpoints"]["last"], weights_only=False)["global_step"] == 6
    assert sorted(p.name for p in (run_dir / "previews" / "epoch_001").iterdir())[0] == "clip_0.png"

    # Resume: same global step, optimizer and codebook (EMA buffers) state, best/last tracking kept.
    last = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    best_before = objects["trainer"].checkpoint_callback.best_model_score
    resumed_cfg = compose_cfg([*overrides, "trainer.max_epochs=3", f"resume={run_dir}"])
    _, resumed = train(resumed_cfg)
    assert resumed["trainer"].global_step == 9
    launches = sorted((run_dir / "csv").glob("*/metrics.csv"))
    assert len(launches) == 2  # the first launch's log is kept, not overwritten
    steps = [int(r["step"]) for r in read_metrics(run_dir) if r.get("train/loss")]
    assert steps == sorted(steps) and min(steps) == 0 and max(steps) == 8
    assert resumed["trainer"].checkpoint_callback.best_model_score <= best_before
    assert saved["optimizer_states"][0]["state"], "optimizer moments are in the checkpoint"
    buffers = [k for k in saved["state_dict"] if k.endswith(("embed_avg", "cluster_size", "initted"))]
    assert buffers, "EMA codebook buffers are in the checkpoint"


def test_resumed_module_restores_codebooks_exactly(compose_cfg, tmp_path: Path):
    import hydra

    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    cfg = compose_cfg([*TINY_VQVAE, *SHORT_RUN, "trainer.max_epochs=1", f"data.path={folder}", "data=small"])
    _, objects = train(cfg)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    fresh = hydra.utils.instantiate(cfg.model)
    assert not fresh.net.quantizer.initted
    fresh.load_state_dict(state)
    assert fresh.net.quantizer.initted
    trained = objects["model"].net.quantizer.state_dict()
    for key, value in fresh.net.quantizer.state_dict().items():
        assert torch.equal(value, trained[key]), key


class InterruptAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def test_ctrl_c_saves_a_checkpoint_that_resumes(compose_cfg, tmp_path: Path, monkeypatch):
    import distill.train as train_module

    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    overrides = [*TINY_VQVAE, *SHORT_RUN, f"data.path={folder}", "data=small"]
    original = train_module.instantiate_callbacks
    monkeypatch.setattr(train_module, "instantiate_callbacks", lambda c: [*original(c), InterruptAt(2)])
    with pytest.raises(SystemExit):
        train(compose_cfg(overrides))
    interrupted = tmp_path / "run" / "checkpoints" / "interrupted.ckpt"
    assert torch.load(interrupted, weights_only=False)["global_step"] == 2
    monkeypatch.setattr(train_module, "instantiate_callbacks", original)
    _, resumed = train(compose_cfg([*overrides, f"ckpt_path={interrupted}"]))
    assert resumed["trainer"].global_step == 6


def test_nan_loss_skips_the_step_and_training_goes_on(compose_cfg, tmp_path: Path):
    import hydra

    from distill.data.dataset import ClipBatch

    cfg = compose_cfg([*TINY_VQVAE, "data.path=/unused", "data=small"])
    module = hydra.utils.instantiate(cfg.model)
    module.log = lambda *args, **kwargs: None  # no Trainer attached in this unit test

    def batch_of(mel: torch.Tensor) -> ClipBatch:
        return ClipBatch(
            mel=mel,
            audio=torch.zeros(2, 1, 32 * 512),
            frame_mask=torch.ones(2, 32, dtype=torch.bool),
            file_index=torch.zeros(2),
        )

    assert torch.isfinite(module.training_step(batch_of(torch.randn(2, 128, 32)), 0)["loss"])  # k-means init
    poisoned = torch.randn(2, 128, 32)
    poisoned[0, 3, 5] = float("nan")
    assert module.training_step(batch_of(poisoned), 1) is None
    assert int(module.skipped_steps) == 1
    assert all(torch.isfinite(v).all() for v in module.net.quantizer.state_dict().values())
    assert torch.isfinite(module.training_step(batch_of(torch.randn(2, 128, 32)), 2)["loss"])


def train_py_env(tmp_path: Path) -> dict[str, str]:
    """The environment train.py runs in for a test: its cache and logs inside ``tmp_path``."""
    return {
        **os.environ,
        "DISTILL_CACHE_DIR": str(tmp_path / "cache"),
        "DISTILL_LOG_DIR": str(tmp_path / "logs"),
    }


def run_train_py(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=tmp_path,
        env=train_py_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_multirun_sweep_runs_two_jobs(tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    result = run_train_py(
        [
            "-m",
            *TINY_VQVAE,
            *SHORT_RUN,
            "trainer.max_epochs=1",
            f"data.path={folder}",
            "model.optimizer.lr=1e-3,2e-3",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted((tmp_path / "logs").rglob("summary.json"))
    assert len(summaries) == 2
    lrs = sorted(RunSummary.read(p.parent).final_metrics["lr/vqvae"] for p in summaries)
    # Each job trained at its own rate; both decay on the same schedule, so the ratio stays 2.
    assert lrs[1] == pytest.approx(2 * lrs[0]) and 0 < lrs[0] <= 1e-3


def test_ddp_trains_with_two_cpu_processes(tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    result = run_train_py(
        [
            *TINY_VQVAE,
            *SHORT_RUN,
            "trainer=ddp",
            "trainer.devices=2",
            "trainer.accelerator=cpu",
            f"data.path={folder}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    summary = RunSummary.read(next((tmp_path / "logs").rglob("summary.json")).parent).to_dict()
    # Each rank reads half of the 10 training crops: 2 batches of 4 per epoch, 2 epochs.
    assert summary["global_step"] == 4


def test_train_py_reports_a_bad_folder_in_one_line(tmp_path: Path):
    result = run_train_py([*TINY_VQVAE, f"data.path={tmp_path / 'missing'}"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_wandb_logs_offline_into_the_run_and_always_finishes(compose_cfg, tmp_path: Path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    cfg = compose_cfg(
        [*TINY_VQVAE, *SHORT_RUN, "trainer.max_epochs=1", "logger=many", f"data.path={folder}", "data=small"]
    )
    train(cfg)
    assert wandb.run is None  # wandb.finish() ran
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert list((tmp_path / "run" / "csv").glob("*/metrics.csv"))
