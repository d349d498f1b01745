"""Every command that reads or writes, as an ordinary user, on what that user may not touch: another
user's library, model file, folders and runs; a folder it may not write or list; a file it may not
read; a name too long; a file where a folder should be; a damaged library index. Each is one
``error:`` line naming the place, exit 2, no traceback, and nothing changed in another's places.

All commands run in one child process as nobody (``cli_in_process.py``), so torch is imported once.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ordinary_user import as_ordinary_user, child_can_import_distill

pytestmark = pytest.mark.slow  # a child that imports torch and runs ~35 commands: ~30 s

RUNNER = Path(__file__).resolve().parent / "cli_in_process.py"

# (command, what the one error line must name) with {place} fields filled in below.
CASES = [
    # scan / train*: folders it may not list, a run folder it may not make
    (["scan", "{secret}"], "{secret}"),
    (["scan", "{sounds}", "--cache-dir", "{locked}/cache"], "{locked}/cache"),
    (["train", "{sounds}", "hydra.run.dir={locked}/run", "paths.cache_dir={home}/cache"], "{locked}/run"),
    (
        ["train-vocoder", "{secret}", "hydra.run.dir={home}/runs/v", "paths.cache_dir={home}/cache"],
        "{secret}",
    ),
    (["train-prior", "--vqvae", "{secret}", "hydra.run.dir={home}/runs/p"], "{secret}"),
    # package: runs it may not read, another's library, an output it may not write
    (["package", "--vqvae", "{secret}", "--name", "mine", "--library", "{home}/lib"], "{secret}"),
    (
        [
            "package",
            "--vqvae",
            "{runs}/vqvae",
            "--prior",
            "{runs}/prior",
            "--vocoder",
            "{runs}/vocoder",
            "--name",
            "mine",
            "--library",
            "{library}",
        ],
        "{library}",
    ),  # fmt: skip
    (
        ["package", "--vqvae", "{runs}/vqvae", "--name", "mine", "--output", "{locked}/m.distillgan"],
        "{locked}/m.distillgan",
    ),  # fmt: skip
    # generate
    (["generate", "tiny", "--library", "{library}"], "{library}"),
    (["generate", "{model}", "-d", "0.5", "-o", "{locked}/x.wav"], "{locked}/x.wav"),
    (["generate", "{model}", "-d", "0.5", "-o", "{home}/{long}.wav"], "{long}.wav"),
    (["generate", "{model}", "-d", "0.5", "-o", "{audio}/x.wav"], "{audio}/x.wav"),
    (["generate", "{model}", "-d", "0.5", "--prompt", "{hidden}", "-o", "{home}/p.wav"], "{hidden}"),
    (["generate", "{hidden_model}", "-d", "0.5", "-o", "{home}/h.wav"], "{hidden_model}"),
    # encode / decode / edit
    (["encode", "{model}", "{audio}", "-o", "{locked}/x.codes"], "{locked}/x.codes"),
    (["encode", "{model}", "{hidden}", "-o", "{home}/x.codes"], "{hidden}"),
    (["decode", "{codes}", "--model", "{model}", "-o", "{locked}/x.wav"], "{locked}/x.wav"),
    (["decode", "{hidden_codes}", "--model", "{model}", "-o", "{home}/d.wav"], "{hidden_codes}"),
    (
        ["edit", "{codes}", "--session", "{session}", "--model", "{model}", "-o", "{locked}/e.codes"],
        "{locked}/e.codes",
    ),  # fmt: skip
    (
        ["edit", "{codes}", "--session", "{hidden_session}", "--model", "{model}", "-o", "{home}/e.codes"],
        "{hidden_session}",
    ),  # fmt: skip
    # evaluate / report / memorization
    (["evaluate", "{trained}", "--data", "{collection}", "-n", "2"], "{trained}"),  # --save writes the model
    (["evaluate", "tiny", "--library", "{library}", "--no-save"], "{library}"),
    (["evaluate", "{model}", "--data", "{secret}", "-n", "2", "--no-save"], "{secret}"),
    (
        [
            "evaluate",
            "{trained}",
            "--data",
            "{collection}",
            "-n",
            "2",
            "--no-save",
            "--json",
            "{locked}/e.json",
        ],
        "{locked}/e.json",
    ),  # fmt: skip
    (["report", "{model}", "--sounds", "1", "--seconds", "0.5", "-o", "{locked}/r.html"], "{locked}/r.html"),
    (["report", "--run", "{secret}", "-o", "{home}/r.html"], "{secret}"),
    (["memorization", "{model}", "--data", "{secret}"], "{secret}"),
    # models *
    (["models", "list", "--library", "{library}"], "{library}"),
    (["models", "info", "tiny", "--library", "{library}"], "{library}"),
    (["models", "add", "{model}", "--name", "mine", "--library", "{library}"], "{library}"),
    (["models", "add", "{hidden_model}", "--library", "{home}/lib"], "{hidden_model}"),
    (["models", "delete", "tiny", "--yes", "--library", "{library}"], "{library}"),
    (["models", "tag", "tiny", "mine", "--library", "{library}"], "{library}"),
    (["models", "untag", "tiny", "mine", "--library", "{library}"], "{library}"),
    (["models", "repair", "--library", "{library}"], "{library}"),
    (["models", "list", "--library", "{damaged}"], "distill models repair --library {damaged}"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def places(shared_folder, trained_runs) -> dict[str, Path | str]:
    """Root's files, readable by all and writable by root only, beside a home of nobody's."""
    from conftest import package_trained
    from tiny_library import tiny_library, tiny_model_file

    from distill.codes.editor import CodeEditor
    from distill.model import DistillModel

    root = shared_folder
    sounds = root / "sounds"
    sounds.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    sf.write(sounds / "tone.wav", tone, 22050)
    secret = root / "secret"
    secret.mkdir()
    sf.write(secret / "tone.wav", tone, 22050)
    model = tiny_model_file(root / "tiny.distillgan")
    loaded = DistillModel.load(model)
    grid = loaded.encode(sounds / "tone.wav")
    codes = grid.save(root / "grid.codes")
    editor = CodeEditor(loaded, grid)
    editor.apply("cut", start=0, stop=1)
    session = editor.save(root / "session.json")
    hidden = {}
    for name, source in (("hidden", sounds / "tone.wav"), ("hidden_model", model), ("hidden_codes", codes),
                         ("hidden_session", session)):  # fmt: skip
        hidden[name] = root / f"hidden-{source.name}"
        shutil.copyfile(source, hidden[name])
    trained = package_trained(trained_runs, name="trained", output=root / "trained.distillgan").path
    collection = shutil.copytree(trained_runs["sounds"], root / "collection")
    runs = root / "runs"
    for name in ("vqvae", "prior", "vocoder"):
        shutil.copytree(trained_runs[name], runs / name)
    damaged = root / "home" / "damaged"
    tiny_library(damaged)
    for suffix in ("-wal", "-shm"):
        Path(f"{damaged / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)
    (damaged / "catalog.sqlite").write_bytes(b"not a database" * 100)
    found = dict(
        home=root / "home",
        sounds=sounds,
        audio=sounds / "tone.wav",
        secret=secret,
        locked=root / "locked",
        library=tiny_library(root / "library"),
        model=model,
        trained=trained,
        collection=collection,
        codes=codes,
        session=session,
        runs=runs,
        damaged=damaged,
        long="x" * 300,
        **hidden,
    )
    found["locked"].mkdir()
    for path in root.rglob("*"):
        if not path.is_relative_to(root / "home"):
            path.chmod(0o755 if path.is_dir() else 0o644)  # readable by all, writable by root only
    secret.chmod(0o700)
    for name in hidden:
        hidden[name].chmod(0o600)
    return found


def test_every_command_on_places_it_may_not_use_is_one_line_as_an_ordinary_user(places):
    if os.geteuid() != 0:
        pytest.skip("needs files owned by another user: root makes them for nobody")
    home = places["home"]
    child_can_import_distill(home.parent)
    commands = [[part.format(**places) for part in command] for command, _ in CASES]
    (home / "commands.json").write_text(json.dumps(commands))
    others = {name: _snapshot(places[name]) for name in ("library", "locked", "runs", "sounds")}
    models = {
        name: (places[name].stat().st_size, places[name].stat().st_mtime_ns) for name in ("model", "trained")
    }
    for path in home.rglob("*"):
        os.chown(path, 65534, 65534)
    result = as_ordinary_user(
        [sys.executable, str(RUNNER), str(home / "commands.json"), str(home / "results.json")], home, cwd=home
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads((home / "results.json").read_text())
    failures = []
    for (command, named), outcome in zip(CASES, outcomes, strict=True):
        lines = [line for line in outcome["output"].splitlines() if line.strip()]
        expected = named.format(**places)
        told = (
            outcome["exit_code"] == 2
            and outcome["traceback"] is None
            and "Traceback" not in outcome["output"]
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and expected in lines[0]
        )
        if not told:
            failures.append(
                f"{' '.join(command)} -> exit {outcome['exit_code']}: {lines[-3:]} {outcome['traceback']}"
            )
    assert not failures, "\n".join(failures)
    assert {name: _snapshot(places[name]) for name in ("library", "locked", "runs", "sounds")} == {
        name: others[name] for name in ("library", "locked", "runs", "sounds")
    }
    assert {name: (places[name].stat().st_size, places[name].stat().st_mtime_ns) for name in models} == models
