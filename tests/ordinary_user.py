"""Running commands as an ordinary user: the suite may run as root, whom no permission stops, so
children drop to nobody (``setpriv``) with a home of their own in the ``shared_folder`` fixture."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def scratch_for_nobody() -> Iterator[tuple[Path, Path]]:
    """``(root, home)``: a folder root made (and removed after) by root, with nobody's home in it;
    the test fills it, then ``share_with_nobody``. Skips unless the suite runs as root, the one
    user who can make files another user may not touch."""
    if os.geteuid() != 0:
        pytest.skip("needs files owned by another user: root makes them for nobody")
    root = Path(tempfile.mkdtemp(prefix="distill-perm-"))
    try:
        root.chmod(0o755)
        home = root / "home"
        home.mkdir()
        child_can_import_distill(root)
        yield root, home
    finally:
        shutil.rmtree(root, ignore_errors=True)


def share_with_nobody(root: Path, home: Path) -> None:
    """Everything under ``root`` readable by all and writable by root only; ``home`` nobody's."""
    for path in root.rglob("*"):
        if not path.is_relative_to(home):
            path.chmod(0o755 if path.is_dir() else 0o644)
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)


def run_as_nobody(driver: Path, *args: str, home: Path) -> list:
    """A driver script's results: it runs as nobody in ``home`` and writes them as JSON."""
    results = home / "results.json"
    result = as_ordinary_user([sys.executable, str(driver), *args, str(results)], home, cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(results.read_text())
