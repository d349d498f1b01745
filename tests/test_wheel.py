"""distill built as a wheel and installed into a fresh virtual environment works outside the checkout.

The wheel is built from a copy of the sources (nothing is written into the tree), installed with
pip into a new venv whose only view of the checkout is none at all: dependencies come from this
environment's site-packages through a path file, distill itself only from the wheel. Every command
then runs from an empty folder, so any read of the repository's files at run time fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT, SHORT_RUN, TINY_PRIOR, TINY_VOCODER, TINY_VQVAE, make_sound_folder

pytestmark = pytest.mark.slow


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "distill", source / "distill", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w"]
    subprocess.run([*build, str(wheels), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("distill-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies (torch, Lightning, ...) from this environment, after the venv's own packages.
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    install = [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, text=True)
    return venv


def test_the_wheel_installs_and_every_command_runs_outside_the_checkout(tmp_path: Path):
    venv = _fresh_venv(tmp_path, _build_wheel(tmp_path))
    work = tmp_path / "empty"
    work.mkdir()
    sounds = make_sound_folder(tmp_path / "sounds", 6)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        DISTILL_HOME=str(tmp_path / "library"),
        DISTILL_LOG_DIR=str(tmp_path / "logs"),
        DISTILL_CACHE_DIR=str(tmp_path / "cache"),
        WANDB_MODE="offline",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )

    def distill(*args: str | Path) -> str:
        result = subprocess.run(
            [str(venv / "bin" / "distill"), *map(str, args)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"distill {args[0]} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import distill.config as c; print(c.__file__, c.CONFIG_DIR)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(venv) for path in where), where  # not the checkout's

    assert distill("--version").split()[-1] == "0.1.0"
    assert "6 usable" in distill("scan", sounds)
    runs = {name: tmp_path / "runs" / name for name in ("vqvae", "vocoder", "prior")}
    common = [*SHORT_RUN, "data=small"]
    distill("train", sounds, *TINY_VQVAE[1:], *common, f"hydra.run.dir={runs['vqvae']}")
    distill("train-vocoder", sounds, *TINY_VOCODER[1:], *common, f"hydra.run.dir={runs['vocoder']}")
    distill(
        "train-prior", "--vqvae", runs["vqvae"], *TINY_PRIOR[1:], *common, f"hydra.run.dir={runs['prior']}"
    )
    for run in runs.values():
        assert (run / "summary.json").exists() and list((run / "checkpoints").glob("*.ckpt"))
    distill(
        "package",
        "--vqvae",
        runs["vqvae"],
        "--prior",
        runs["prior"],
        "--vocoder",
        runs["vocoder"],
        "--name",
        "w",
    )
    distill("generate", "w", "--count", "2", "-o", work / "new.wav")
    assert sorted(p.name for p in work.iterdir()) == [
        "new-0.wav",
        "new-0.wav.json",
        "new-1.wav",
        "new-1.wav.json",
    ]
    distill("evaluate", "w", "--count", "2", "--no-save", "--json", work / "evaluation.json")
    assert json.loads((work / "evaluation.json").read_text())["distance"]["generated"] > 0
    distill("report", "w", "--sounds", "1", "-o", work / "report.html")
    assert (work / "report.html").read_text().lstrip().lower().startswith("<!doctype html>")
