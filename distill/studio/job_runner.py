"""``python -m distill.studio.job_runner <job folder>``: run a studio job's stages in order
(``distill.studio.jobs``), recording each change in ``studio-state.json``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from distill.bundle.catalog import ModelLibrary
from distill.files import write_text_atomic
from distill.studio.jobs import (
    JOB_FILE,
    LOG_FILE,
    PACKAGE,
    STATE_FILE,
    JobState,
    TrainingPlan,
    record_packaged,
    stage_command,
    stage_done,
)


def _record(folder: Path, state: str, stage: str | None = None, message: str = "") -> None:
    record = JobState(state=state, stage=stage, pid=os.getpid(), message=message)
    write_text_atomic(folder / STATE_FILE, json.dumps(asdict(record)))


def _last_error(log: Path, stage: str, code: int) -> str:
    """The stage's own one-line error (every command ends with one on bad input), else its exit."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    except OSError:
        lines = []
    told = [line.strip() for line in lines if line.strip().startswith("error:")]
    if told:
        return f"{stage}: {told[-1].removeprefix('error:').strip()}"
    return f"{stage} stopped with exit code {code}; the job's studio.log says why."


def run(folder: Path) -> int:
    plan = TrainingPlan.from_dict(json.loads((folder / JOB_FILE).read_text(encoding="utf-8")))
    library = Path(os.environ["DISTILL_HOME"])
    cancelled = False

    def cancel(signum, frame) -> None:  # the training in our group got the same SIGINT
        nonlocal cancelled
        cancelled = True

    signal.signal(signal.SIGINT, cancel)
    for stage in plan.stages:
        if stage_done(folder, stage):
            continue
        _record(folder, "running", stage)
        command = stage_command(plan, folder, stage, library)
        with open(folder / LOG_FILE, "ab") as log:
            log.write(f"\n$ {' '.join(command[1:])}\n".encode())
            log.flush()
            code = subprocess.call(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if cancelled:
            _record(folder, "cancelled", stage, f"cancelled during the {stage}; resume continues it")
            return 130
        if code != 0:
            _record(folder, "failed", stage, _last_error(folder / LOG_FILE, stage, code))
            return 1
        if stage == PACKAGE:
            model_file = ModelLibrary(root=library).path_for(plan.name)
            record_packaged(folder, model_file)
        elif not stage_done(folder, stage):  # stopped without a summary: cut short, not ended
            _record(folder, "cancelled", stage, f"the {stage} stopped early; resume continues it")
            return 130
    _record(
        folder, "done", None, f"{plan.name} is trained" + (" and packaged" if PACKAGE in plan.stages else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
