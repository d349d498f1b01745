"""Training that survives SIGKILL: train.py killed mid-epoch resumes where its last checkpoint
left it, for each model; damaged checkpoints are skipped; another model config is one error."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_PRIOR, TINY_VOCODER, TINY_VQVAE, make_sound_folder
from test_train import train_py_env

from distill.runs import (
    AtomicCheckpointIO,
    ResumeError,
    RunSummary,
    checkpoint_is_whole,
    resume_checkpoint,
)

pytestmark = pytest.mark.slow

EPOCHS = 3
RUN = [
    "debug=default",
    f"trainer.max_epochs={EPOCHS}",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.enable_progress_bar=false",
    "data=small",
]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**train_py_env(tmp_path), "PYTHONPATH": str(ROOT / "tests")}  # tests/step_marker.py


def _train_py(args: list[str], tmp_path: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, env=_env(tmp_path), text=True, **popen
    )


def _csv_rows(csv_file: Path) -> list[dict[str, str]]:
    with open(csv_file) as handle:
        return list(csv.DictReader(handle))


def _model_checkpoint_state(checkpoint: Path) -> dict:
    """The best-checkpoint record (path, score) that Lightning keeps in every checkpoint."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    (state,) = [value for key, value in saved["callbacks"].items() if "'monitor': 'val/loss'" in key]
    return state


def _kill_mid_epoch(args: list[str], run_dir: Path, tmp_path: Path) -> int:
    """Start train.py, SIGKILL it during the step after its first epoch's checkpoint; return that
    checkpoint's global step."""
    marker = tmp_path / "step.txt"
    slow = [
        "+callbacks.step_marker._target_=step_marker.StepMarker",
        f"+callbacks.step_marker.marker={marker}",
        "+callbacks.step_marker.seconds=0.4",
    ]
    process = _train_py([*args, *slow], tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"train.py ended before the kill: {process.stderr.read()[-3000:]}")
            if last.exists() and marker.exists():
                epoch, batch, _ = map(int, marker.read_text().split())
                if epoch == 1 and batch >= 1:  # epoch 0's checkpoint is written, epoch 1 is running
                    break
            time.sleep(0.05)
        else:
            pytest.fail("train.py never reached the second epoch")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return torch.load(last, map_location="cpu", weights_only=False)["global_step"]


def _check_killed_and_resumed(args: list[str], tmp_path: Path) -> RunSummary:
    run_dir = tmp_path / "run"
    args = [*args, f"hydra.run.dir={run_dir}"]
    checkpoint_step = _kill_mid_epoch(args, run_dir, tmp_path)
    assert checkpoint_step > 0 and not (run_dir / "summary.json").exists()
    before = _model_checkpoint_state(run_dir / "checkpoints" / "last.ckpt")
    assert Path(before["best_model_path"]).is_file()
    (killed_log,) = (run_dir / "csv").glob("*/metrics.csv")
    killed_rows = _csv_rows(killed_log)
    assert killed_rows and max(int(row["step"]) for row in killed_rows) >= checkpoint_step - 1

    time.sleep(1.1)  # the next launch's CSV folder is named by the second
    resumed = _train_py(
        [*args, f"resume={run_dir}"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]

    # The history from before the kill is still there, and the new launch continued from the checkpoint.
    logs = sorted((run_dir / "csv").glob("*/metrics.csv"))
    assert len(logs) == 2 and logs[0] == killed_log and _csv_rows(killed_log) == killed_rows
    new_steps = [int(row["step"]) for row in _csv_rows(logs[1]) if row.get("epoch")]
    assert min(new_steps) >= checkpoint_step - 1
    assert not [row for row in _csv_rows(logs[1]) if row.get("epoch") and int(row["epoch"]) < 1]

    summary = RunSummary.read(run_dir)
    assert summary.epochs == EPOCHS
    assert summary.global_step > checkpoint_step
    # The loss history spans every epoch once, with the pre-kill epoch restored from the checkpoint.
    assert [row["epoch"] for row in summary.loss_history] == list(range(EPOCHS))
    assert all("val/loss" in row for row in summary.loss_history)
    # The best-checkpoint record survived: what the killed launch had is at worst matched since.
    after = _model_checkpoint_state(run_dir / "checkpoints" / "last.ckpt")
    assert float(after["best_model_score"]) <= float(before["best_model_score"])
    best = summary.best_checkpoint(run_dir)
    assert best is not None and best.name == Path(after["best_model_path"]).name
    assert summary.checkpoints["last"].endswith("last.ckpt")
    return summary


def test_vqvae_survives_sigkill(tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 8, seconds=1.0)
    summary = _check_killed_and_resumed([*TINY_VQVAE, *RUN, f"data.path={folder}"], tmp_path)
    assert [row["level"] for row in summary.codebook_health] == [0, 1]


def test_vocoder_survives_sigkill(tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    summary = _check_killed_and_resumed([*TINY_VOCODER, *RUN, f"data.path={folder}"], tmp_path)
    assert summary.vocoder["quality"] is not None and summary.vocoder["type"] == "vocos"


def test_prior_survives_sigkill(trained_runs, tmp_path: Path):
    args = [*TINY_PRIOR, *RUN, f"model.vqvae={trained_runs['vqvae']}", "callbacks.early_stopping=null"]
    summary = _check_killed_and_resumed(args, tmp_path)
    assert summary.vqvae["digest"] and summary.memorization is not None


def test_a_damaged_last_checkpoint_is_skipped_with_one_warning(trained_runs, tmp_path: Path, caplog):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_runs["vqvae"], run_dir)
    checkpoints = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    best = next(path for path in checkpoints if path.name.startswith("best"))
    last = run_dir / "checkpoints" / "last.ckpt"
    os.utime(best, (1, 1))  # the best is older; last.ckpt the newest
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # cut off while being written
    assert not checkpoint_is_whole(last) and checkpoint_is_whole(best)
    with caplog.at_level("WARNING", logger="distill.runs"):
        assert resume_checkpoint(run_dir) == best
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "last.ckpt is damaged" in warning and best.name in warning
    for path in checkpoints:
        path.write_bytes(b"PK\x03\x04 not a whole zip")
    with pytest.raises(ResumeError, match="every checkpoint .* is damaged"):
        resume_checkpoint(run_dir)


def test_a_kill_while_a_checkpoint_is_written_leaves_the_previous_one_whole(tmp_path: Path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 7}, path)
    # A child writes a 400 MB checkpoint over it and is killed as soon as its temp file appears.
    script = (
        "import sys, torch; from distill.runs import AtomicCheckpointIO;"
        "AtomicCheckpointIO().save_checkpoint({'state_dict': {'w': torch.zeros(100_000_000)}}, sys.argv[1])"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not list(path.parent.glob(".last.ckpt.*.tmp")):
            assert child.poll() is None and time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert checkpoint_is_whole(path)
    assert torch.load(path, weights_only=True)["global_step"] == 7
    # The killed writer's temp file is cleared by the next resume of that run.
    (tmp_path / "config.yaml").write_text("model: {}\n")
    assert resume_checkpoint(tmp_path) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_resuming_with_another_codebook_size_is_one_clear_error(trained_runs, tmp_path: Path):
    import shutil

    run_dir = tmp_path / "logs" / "run"
    shutil.copytree(trained_runs["vqvae"], run_dir)
    folder = trained_runs["sounds"]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *TINY_VQVAE[:-1],
            "codebook=k128",
            *RUN,
            f"data.path={folder}",
            f"resume={run_dir}",
        ],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Cannot resume" in line and "codebook_size was 64, now 128" in line
