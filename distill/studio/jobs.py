"""Training from the studio: a plan (which models, on which folder, for how long) run by a
detached process, so the notebook's kernel stays responsive and a kernel restart loses nothing.

A job lives in one folder, ``<workspace>/runs/<model name>/``::

    studio-job.json      the plan (``TrainingPlan``)
    studio-state.json    what the runner is doing (``JobState``), rewritten at each change
    studio.log           every stage's console output
    vocoder/ vqvae/ prior/   the stages' run folders (``distill.runs``), each with progress.json
    packaged.json        the model file packaging wrote (the last stage)

The runner (``python -m distill.studio.job_runner <folder>``) runs the stages in order as the
commands a user would type (``distill.cli.train_commands``, ``distill package``) and skips a stage
whose run has ended (``summary.json``). So a resume is the same runner started again: a stage cut
short continues from its newest checkpoint (``resume=<run>``), with its time budget's remainder.
Cancelling sends SIGINT to the runner's process group: the training writes ``interrupted.ckpt``
and stops, the runner records "cancelled" and starts nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from distill.bundle.names import name_problem
from distill.callbacks.live_progress import read_progress
from distill.errors import UserError
from distill.files import pid_alive, write_text_atomic
from distill.runs import CHECKPOINT_DIR, SUMMARY_FILE

TRAINING_STAGES = ("vocoder", "vqvae", "prior")
PACKAGE = "package"
JOB_FILE = "studio-job.json"
STATE_FILE = "studio-state.json"
LOG_FILE = "studio.log"
PACKAGED_FILE = "packaged.json"
MAX_BUDGET_S = 7 * 24 * 3600
RUNNER_START_S = 120  # a runner that has not said "running" by then never will (see studio.log)


@dataclass(frozen=True)
class TrainingPlan:
    """What to train: ``stages`` in order (of ``TRAINING_STAGES``, then ``PACKAGE``), each training
    stage's wall-clock budget in seconds, and each one's Hydra overrides (``trainer=gpu``, ...)."""

    name: str
    data: str
    stages: tuple[str, ...]
    budgets_s: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def check(self) -> None:
        """One sentence for the first thing wrong with the plan."""
        if problem := name_problem(self.name):
            raise UserError(f"Model name {self.name!r}: {problem}.")
        if not self.stages:
            raise UserError("Choose at least one thing to train (vocoder, RVQ-VAE, prior) or to package.")
        order = (*TRAINING_STAGES, PACKAGE)
        unknown = [stage for stage in self.stages if stage not in order]
        if unknown:
            raise UserError(f"Unknown training stage {unknown[0]!r}: choose from {', '.join(order)}.")
        if any(stage in TRAINING_STAGES for stage in self.stages):
            folder = Path(self.data).expanduser()
            if not str(self.data).strip() or not folder.is_dir():
                raise UserError(
                    f"The sound folder {self.data!r} does not exist: give a folder of recordings."
                )
        for stage in self.stages:
            if stage == PACKAGE:
                continue
            budget = self.budgets_s.get(stage)
            if budget is None or not 0 < budget <= MAX_BUDGET_S:
                raise UserError(
                    f"The {stage}'s time budget must be more than 0 and at most 7 days, got"
                    f" {'none' if budget is None else f'{budget / 60:g} min'}."
                )

    @classmethod
    def from_dict(cls, data: dict) -> TrainingPlan:
        return cls(
            name=data["name"],
            data=data["data"],
            stages=tuple(data["stages"]),
            budgets_s={key: int(value) for key, value in data.get("budgets_s", {}).items()},
            overrides={key: tuple(value) for key, value in data.get("overrides", {}).items()},
        )


@dataclass(frozen=True)
class JobState:
    """``studio-state.json``: ``state`` is running, done, cancelled or failed; ``message`` says why
    it failed (the stage's ``error:`` line) or what it wrote."""

    state: str
    stage: str | None = None
    pid: int | None = None
    message: str = ""


def hhmmss(seconds: int) -> str:
    """A budget as Lightning's max_time ("DD:HH:MM:SS")."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}"


def stage_done(folder: Path, stage: str) -> bool:
    if stage == PACKAGE:
        return (folder / PACKAGED_FILE).is_file()
    return (folder / stage / SUMMARY_FILE).is_file()


def finished_runs(folder: Path) -> dict[str, Path]:
    """The job's training runs that have ended, by stage: what packaging bundles."""
    return {stage: folder / stage for stage in TRAINING_STAGES if stage_done(folder, stage)}


def record_packaged(folder: Path, model_file: Path) -> None:
    """Packaging's stage is done: the model file it wrote."""
    write_text_atomic(folder / PACKAGED_FILE, json.dumps({"path": str(model_file)}))


def stage_command(plan: TrainingPlan, folder: Path, stage: str, library: Path) -> list[str]:
    """The command the runner runs for ``stage``: what a user would type for it."""
    runs = {name: folder / name for name in TRAINING_STAGES}
    if stage == PACKAGE:
        command = [sys.executable, "-m", "distill.cli.main", "package", "--name", plan.name]
        command += ["--library", str(library)]
        for name, run in finished_runs(folder).items():
            command += [f"--{name}", str(run)]
        return command
    command = [
        sys.executable,
        "-m",
        "distill.cli.train_commands",
        f"model={stage}",
        f"data.path={Path(plan.data).expanduser().resolve()}",
        f"hydra.run.dir={runs[stage]}",
        f"trainer.max_time={hhmmss(plan.budgets_s[stage])}",
        "trainer.enable_progress_bar=false",  # the log is read by people, not redrawn in place
        f"task_name=studio-{stage}",
    ]
    if stage in ("vqvae", "prior") and stage_done(folder, "vocoder"):
        command.append(f"vocoder_run={runs['vocoder']}")
    if stage == "prior":
        command.append(f"model.vqvae={runs['vqvae']}")
    if (runs[stage] / CHECKPOINT_DIR).is_dir() and any((runs[stage] / CHECKPOINT_DIR).glob("*.ckpt")):
        command.append(f"resume={runs[stage]}")
    return [*command, *plan.overrides.get(stage, ())]


class TrainingJob:
    """One studio job's folder: start, watch, cancel and resume it (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def start(cls, runs: Path, plan: TrainingPlan, *, library: Path) -> TrainingJob:
        plan.check()
        job = cls(runs / plan.name)
        if job.running:
            raise UserError(f"{plan.name} is training already: cancel it first, or choose another name.")
        job.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(job.folder / JOB_FILE, json.dumps(asdict(plan), indent=2))
        job._launch(library)
        return job

    @classmethod
    def all(cls, runs: Path) -> list[TrainingJob]:
        """Every job in the workspace, newest first (a restarted kernel finds its runs again)."""
        if not runs.is_dir():
            return []
        jobs = [cls(path.parent) for path in runs.glob(f"*/{JOB_FILE}")]
        return sorted(jobs, key=lambda job: (job.folder / JOB_FILE).stat().st_mtime, reverse=True)

    @property
    def plan(self) -> TrainingPlan:
        return TrainingPlan.from_dict(json.loads((self.folder / JOB_FILE).read_text(encoding="utf-8")))

    @property
    def state(self) -> JobState:
        """What the runner last recorded; "stopped" when it says running but is gone (killed)."""
        try:
            recorded = JobState(**json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return JobState(state="starting")
        if recorded.state == "running" and not (recorded.pid and pid_alive(recorded.pid)):
            return JobState(state="stopped", stage=recorded.stage, message="the training process ended")
        if recorded.state == "starting" and time.time() - self._state_written() > RUNNER_START_S:
            return JobState(state="stopped", message="the runner never started; studio.log says why")
        return recorded

    def _state_written(self) -> float:
        try:
            return (self.folder / STATE_FILE).stat().st_mtime
        except OSError:
            return time.time()

    @property
    def running(self) -> bool:
        return (self.folder / JOB_FILE).is_file() and self.state.state in ("starting", "running")

    def progress(self) -> dict:
        """The whole plan's progress: each training stage's share of its budget, weighted by it,
        and the progress.json (loss curves, codebook health) of the stage training now, else of
        the last one that trained."""
        plan = self.plan
        total = sum(plan.budgets_s.get(stage, 0) for stage in plan.stages) or 1
        spent, remaining, current, latest = 0.0, 0.0, None, None
        for stage in plan.stages:
            if stage == PACKAGE:
                continue
            budget = plan.budgets_s[stage]
            watched = read_progress(self.folder / stage)
            latest = watched or latest
            if stage_done(self.folder, stage):
                spent += budget
                continue
            share = float(watched["progress"]) if watched else 0.0
            spent += share * budget
            remaining += (watched or {}).get("remaining_s") or budget * (1 - share)
            if self.state.stage == stage:
                current = watched
        return {"fraction": min(spent / total, 1.0), "remaining_s": remaining, "stage": current or latest}

    def cancel(self) -> None:
        """SIGINT to the runner and its training: the run saves a checkpoint and stops."""
        state = self.state
        if state.state != "running" or not state.pid:
            raise UserError(f"{self.folder.name} is not training, so there is nothing to cancel.")
        try:
            os.killpg(os.getpgid(state.pid), signal.SIGINT)
        except ProcessLookupError:
            pass  # it ended meanwhile: its state says how

    def resume(self, *, library: Path) -> None:
        """Start the runner again: ended stages are skipped, a cut-short one continues."""
        if self.running:
            raise UserError(f"{self.folder.name} is still training: wait for it, or cancel it first.")
        if all(stage_done(self.folder, stage) for stage in self.plan.stages):
            raise UserError(f"{self.folder.name} has finished every stage; there is nothing to resume.")
        self._launch(library)

    def _launch(self, library: Path) -> None:
        write_text_atomic(self.folder / STATE_FILE, json.dumps(asdict(JobState(state="starting"))))
        env = {**os.environ, "DISTILL_HOME": str(library), "PYTHONUNBUFFERED": "1"}
        with open(self.folder / LOG_FILE, "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "distill.studio.job_runner", str(self.folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # outlives the kernel; cancel signals its whole group
            )
