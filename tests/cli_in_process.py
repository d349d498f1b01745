"""Run ``distill`` commands in this process, as the ``distill`` executable runs them, and keep what
the user would see: the exit code, the output, and any exception that escaped (a traceback).

One process pays for importing torch once, so many commands are cheap: the CLI fuzz runs here, and
the ordinary-user tests run this file as a child (``python cli_in_process.py COMMANDS.json
RESULTS.json``) under an unprivileged user, every command of a list in one child.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import traceback
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Outcome:
    argv: list[str]
    exit_code: int | None  # None: an exception escaped main()
    output: str  # stdout and stderr together, as a terminal shows them
    traceback: str | None

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]

    def describe(self) -> str:
        return (
            f"distill {' '.join(self.argv)!r} -> exit {self.exit_code}\n{self.output}{self.traceback or ''}"
        )


def run_distill(argv: list[str], *, cwd: str | None = None) -> Outcome:
    """``distill *argv`` in this process (``distill.cli.main.main``), in ``cwd`` if given."""
    from distill.cli.main import main

    captured = io.StringIO()
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    root_logger = logging.getLogger()
    saved_logging = (root_logger.level, list(root_logger.handlers))  # commands reconfigure logging
    sys.argv = ["distill", *argv]
    saved_stdin, sys.stdin = sys.stdin, io.StringIO("")  # nobody answers a question: as with stdin closed
    code: int | None = 0
    escaped = None
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # a bug: what the user would see is this traceback
        code, escaped = None, traceback.format_exc()
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.chdir(saved_cwd)
        root_logger.setLevel(saved_logging[0])
        root_logger.handlers[:] = saved_logging[1]
    return Outcome(list(argv), code, captured.getvalue(), escaped)


if __name__ == "__main__":
    commands_file, results_file = sys.argv[1:3]
    with open(commands_file) as handle:
        commands = json.load(handle)
    outcomes = [asdict(run_distill(argv)) for argv in commands]
    with open(results_file, "w") as handle:
        json.dump(outcomes, handle)
