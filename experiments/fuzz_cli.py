"""The CLI fuzz of tests/test_cli_fuzz.py, longer and with new random examples each run.

    .venv/bin/python experiments/fuzz_cli.py [--per-command 200] [-k generate]

The suite runs a fixed 15 examples per command; this draws ``--per-command`` fresh ones for each of
the ~22 commands and prints how many ran and what failed (pytest's report, with Hypothesis's
smallest failing command line). ``-k`` picks commands as pytest's -k does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-command", type=int, default=200, help="examples drawn for each command")
    parser.add_argument("-k", default=None, help="only the commands whose test id matches (pytest -k)")
    args = parser.parse_args()
    env = {**os.environ, "DISTILL_FUZZ_EXAMPLES": str(args.per_command), "DISTILL_FUZZ_RANDOM": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli_fuzz.py"]
    command += ["--hypothesis-show-statistics"]  # examples run per command
    command += ["-k", args.k] if args.k else []
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env)
    minutes = (time.perf_counter() - started) / 60
    print(
        f"fuzz: up to {args.per_command} examples per command, {minutes:.1f} min, pytest exit {result.returncode}"
    )
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
