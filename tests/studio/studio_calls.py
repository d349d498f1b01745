"""The studio's panels driven as a person drives them, on a workspace and library given, keeping the
line each panel's status shows: what ``test_studio_file_errors.py`` runs in the test process and,
for permission cases, in a child as an ordinary user::

    python studio_calls.py CASES.json RESULTS.json

runs each ``[action, {arguments}]`` of CASES.json in this one process (torch is imported once).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _status(panel) -> dict[str, Any]:
    return {"text": panel.status.text, "error": "ds-error" in panel.status.value}


def _context(workspace: str, library: str):
    from distill.studio.common import StudioContext

    return StudioContext.create(workspace, library)


def train_start(workspace: str, library: str, sounds: str) -> dict[str, Any]:
    """Fill in the Train panel and press train; nothing trains (the runner is never launched)."""
    from distill.studio.jobs import TrainingJob
    from distill.studio.train_panel import TrainPanel

    def launched(job, library) -> None:  # the runner would train for minutes: the start is the test
        raise AssertionError(f"{job.folder} was started: the workspace was written")

    real_launch, TrainingJob._launch = TrainingJob._launch, launched
    try:
        panel = TrainPanel(_context(workspace, library))
        panel.folder.value, panel.name.value = sounds, "kit"
        panel.start_button.click()
    finally:
        TrainingJob._launch = real_launch
    return {"train": _status(panel)}


def keep(workspace: str, library: str) -> dict[str, Any]:
    """Make one short sound on the Generate panel and keep it."""
    from distill.studio.generate_panel import GeneratePanel

    panel = GeneratePanel(_context(workspace, library))
    panel.mode.value, panel.duration.value, panel.count.value = "continuous", "0.3", "1"
    panel.generate(wait=True)
    if len(panel.results) != 1:
        return {"generate": _status(panel)}  # the sound was not made: the keep was never tried
    kept = panel.keep(0)
    return {"generate": _status(panel), "returned": None if kept is None else str(kept)}


def open_report(workspace: str, library: str) -> dict[str, Any]:
    """The Library panel's "open report" on its first model, waited for."""
    from distill.studio import library_panel

    # One short sound: enough to reach the write, should the page be written after making them.
    library_panel.REPORT_SOUNDS, library_panel.REPORT_SECONDS = 1, 1.0
    panel = library_panel.LibraryPanel(_context(workspace, library))
    written = panel.open_report(wait=True)
    return {"library": _status(panel), "returned": None if written is None else str(written)}


def studio(workspace: str, library: str) -> dict[str, Any]:
    """``Studio(workspace=..., library=...)`` as a notebook cell makes it: every panel's first line."""
    from distill.studio import Studio

    made = Studio(workspace=workspace, library=library)
    return {name: _status(getattr(made, name)) for name in ("train", "generate", "library", "edit")}


ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "train_start": train_start,
    "keep": keep,
    "open_report": open_report,
    "studio": studio,
}


def run(action: str, arguments: dict[str, str]) -> dict[str, Any]:
    """What ``action`` left on the panels' status lines; ``raised``: the traceback a notebook cell
    would show, for a failure that escaped the panels."""
    try:
        return {**ACTIONS[action](**arguments), "raised": None}
    except Exception:  # noqa: BLE001 -- an escaped failure is the outcome being tested
        return {"raised": traceback.format_exc()}


if __name__ == "__main__":
    cases_file, results_file = map(Path, sys.argv[1:3])
    results = [run(action, arguments) for action, arguments in json.loads(cases_file.read_text())]
    results_file.write_text(json.dumps(results))
