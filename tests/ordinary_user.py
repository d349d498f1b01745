"""Running commands as an ordinary user: the suite may run as root, whom no permission stops, so
children drop to nobody (``setpriv``) with a home of their own in the ``shared_folder`` fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOBODY = 65534


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []


def as_ordinary_user(command: list[str], home: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` as an unprivileged user with its own ``home``: as it is when the suite is not
    root, else as nobody (given ``home``)."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: no ordinary user to be")
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
        os.chown(home, NOBODY, NOBODY)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200", "HOME": str(home)}
    for name in ("DISTILL_HOME", "DISTILL_CACHE_DIR", "DISTILL_LOG_DIR", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        env.pop(name, None)  # the user's own places, under their home
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, **kwargs)


def child_can_import_distill(folder: Path) -> None:
    probe = as_ordinary_user([sys.executable, "-c", "import distill.files"], folder / "home")
    if probe.returncode != 0:
        pytest.skip(f"an ordinary user cannot run this interpreter here: {probe.stderr.strip()[-200:]}")


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
