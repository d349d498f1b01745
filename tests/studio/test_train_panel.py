"""The Train panel without a browser: scan, a real tiny job trained in the background (progress
moves, cancel, resume, package), and every bad input as one line on the panel."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_sound_folder
from studio_fixtures import tiny_overrides, wait_for

from distill.bundle.catalog import ModelLibrary
from distill.callbacks.live_progress import read_progress
from distill.studio.common import StudioContext
from distill.studio.jobs import TrainingJob, TrainingPlan
from distill.studio.train_panel import TrainPanel


@pytest.fixture
def panel(tmp_path: Path, monkeypatch) -> TrainPanel:
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DISTILL_LOG_DIR", str(tmp_path / "logs"))
    return TrainPanel(StudioContext.create(tmp_path / "studio", tmp_path / "library"))


def test_scan_shows_the_report_and_names_the_model(panel: TrainPanel, tmp_path: Path) -> None:
    folder = make_sound_folder(tmp_path / "kit", 5)
    (folder / "notes.txt").write_text("not audio")
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    panel.folder.value = str(folder)
    panel.scan()
    assert "Usable recordings" in panel.scan_report.value and "hit_000.wav" in panel.scan_report.value
    assert "broken.wav" in panel.scan_report.value  # skipped, with its reason
    assert "tier" in panel.scan_report.value
    assert panel.status.text.startswith("5 usable recordings")
    assert panel.name.value == "kit"


@pytest.mark.parametrize(
    ("setup", "told"),
    [
        (lambda panel, tmp: setattr(panel.folder, "value", str(tmp / "missing")), "does not exist"),
        (
            lambda panel, tmp: (tmp / "empty").mkdir() or setattr(panel.folder, "value", str(tmp / "empty")),
            "empty",
        ),
    ],
)
def test_scanning_a_bad_folder_is_one_line(panel: TrainPanel, tmp_path: Path, setup, told: str) -> None:
    setup(panel, tmp_path)
    panel.scan_button.click()  # through the button: nothing may raise into the notebook
    panel._scan_thread.join()  # the button scans in the background
    assert told in panel.status.text.lower() or told in panel.status.text
    assert "\n" not in panel.status.text and "Traceback" not in panel.status.text


def test_starting_with_bad_fields_is_one_line_and_starts_nothing(panel: TrainPanel, tmp_path: Path) -> None:
    folder = make_sound_folder(tmp_path / "kit", 3)
    panel.folder.value, panel.name.value = str(folder), "kit"
    panel.budgets["vqvae"].value = 0
    panel.start_button.click()
    assert "vqvae's time budget must be more than 0" in panel.status.text
    panel.budgets["vqvae"].value = 1
    panel.name.value = "no/slash"
    panel.start_button.click()
    assert panel.status.text.startswith("Model name")
    for box in [*panel.stage_boxes.values(), panel.package_box]:
        box.value = False
    panel.name.value = "kit"
    panel.start_button.click()
    assert "at least one" in panel.status.text
    assert TrainingJob.all(panel.context.runs) == []
    for button in (panel.cancel_button, panel.resume_button, panel.package_button):
        button.click()
        assert "No training job yet" in panel.status.text


@pytest.mark.slow
def test_a_job_outlives_its_kernel_and_is_watched_cancelled_resumed_and_packaged(
    tmp_path: Path, monkeypatch
) -> None:
    """A "kernel" (a Python process) starts a tiny job and is killed, as a kernel restart kills it;
    the training goes on, and a new kernel's panel finds it, watches it move, cancels, resumes and
    packages it. Vocoder and RVQ-VAE (a model needs its codes, not a prior): the browser test
    trains all three."""
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DISTILL_LOG_DIR", str(tmp_path / "logs"))
    folder = make_sound_folder(tmp_path / "kit", 6, seconds=1.0)
    runs, library = tmp_path / "studio" / "runs", tmp_path / "library"
    overrides = tiny_overrides(tmp_path / "cache")
    plan = TrainingPlan(
        name="kit",
        data=str(folder),
        stages=("vocoder", "vqvae"),
        budgets_s={"vocoder": 12, "vqvae": 9},
        overrides={stage: tuple(overrides[stage].split()) for stage in ("vocoder", "vqvae")},
    )
    kernel = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, sys, time\n"
            "from pathlib import Path\n"
            "from distill.studio.jobs import TrainingJob, TrainingPlan\n"
            "plan = TrainingPlan.from_dict(json.loads(sys.argv[1]))\n"
            "TrainingJob.start(Path(sys.argv[2]), plan, library=Path(sys.argv[3]))\n"
            "time.sleep(600)\n",
            json.dumps(dataclasses.asdict(plan)),
            str(runs),
            str(library),
        ]
    )
    job = TrainingJob(runs / "kit")
    try:
        wait_for(lambda: (read_progress(job.folder / "vocoder") or {}).get("step", 0) > 0, 120, "training")
    finally:
        kernel.kill()
        kernel.wait()
    assert job.running  # the kernel is gone, the training is not

    panel = TrainPanel(StudioContext.create(tmp_path / "studio", library))
    assert panel.jobs.value == "kit"
    first = panel.progress.value
    wait_for(lambda: panel.progress.value > first, 60, "the progress bar to move")
    assert "vocoder · step" in panel.progress_text.value and "left" in panel.progress_text.value
    panel.cancel_button.click()
    wait_for(lambda: job.state.state == "cancelled", 60, "the cancel")
    assert (job.folder / "vocoder" / "checkpoints" / "interrupted.ckpt").is_file()
    stopped_at = read_progress(job.folder / "vocoder")["step"]

    panel.resume_button.click()
    wait_for(lambda: job.state.state in ("done", "failed"), 240, "the resumed job to end")
    assert job.state.state == "done", job.state.message
    wait_for(lambda: panel.progress.bar_style == "success", 10, "the bar to show the end")
    assert panel.progress.value == 1.0
    vocoder = json.loads((job.folder / "vocoder" / "summary.json").read_text())
    assert vocoder["global_step"] > stopped_at  # continued, not restarted
    assert read_progress(job.folder / "vocoder")["state"] == "ended"
    vqvae = read_progress(job.folder / "vqvae")
    assert [row["level"] for row in vqvae["codebook"]] == [0, 1]  # live health of both levels
    assert len(vqvae["curves"]["train/spectral"]) >= 2
    assert bytes(panel.curves.value[:4]) == b"\x89PNG"

    changed: list[bool] = []
    panel.context.library_listeners.append(lambda: changed.append(True))
    path = panel.package()
    assert path.is_file() and changed == [True]
    assert [entry.name for entry in ModelLibrary(root=library).list()] == ["kit"]
    panel.package_button.click()  # twice: the name is taken, one line
    assert "already" in panel.status.text
