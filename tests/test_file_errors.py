"""File-system failures are one sentence naming the path and what to do, never a traceback, and
never a partial file: a folder in the way, a file where a folder should be, a name too long,
permission denied (as an ordinary user: the suite may run as root, who is never denied), and a
file that cannot be read while scanning."""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ordinary_user import as_ordinary_user, child_can_import_distill, error_lines, leftovers

from distill.files import (
    FileSystemError,
    atomic_write,
    file_system_error,
    interrupts_deferred,
    wav_bytes,
    write_text_atomic,
    write_wav_atomic,
)


def test_a_folder_where_the_file_should_go_is_named_and_nothing_is_written(tmp_path):
    (tmp_path / "x.wav").mkdir()
    written = []
    with pytest.raises(FileSystemError, match=r"^Cannot write .*x\.wav: it is a folder\. .*give a file name"):
        atomic_write(tmp_path / "x.wav", lambda handle: written.append(handle.write(b"data")))
    assert written == []  # refused before the (possibly long) write, not after it
    assert leftovers(tmp_path) == ["x.wav"] and leftovers(tmp_path / "x.wav") == []


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileSystemError, match="a part of the path is a file, not a folder") as caught:
        write_text_atomic(tmp_path / "notes.txt" / "sub" / "x.json", "{}")
    assert str(caught.value).startswith(f"Cannot write {tmp_path / 'notes.txt' / 'sub' / 'x.json'}: ")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == ["notes.txt"]


def test_a_name_too_long_is_named(tmp_path):
    with pytest.raises(FileSystemError, match="the name is too long for the file system. .*shorter name"):
        write_text_atomic(tmp_path / ("x" * 300 + ".json"), "{}")
    assert leftovers(tmp_path) == []


def test_missing_folders_on_the_way_are_made(tmp_path):
    target = tmp_path / "new" / "sub" / "x.json"
    write_text_atomic(target, "{}")
    assert target.read_text() == "{}"


def test_an_os_error_is_told_by_its_file_and_one_without_a_file_is_left_alone():
    told = file_system_error(PermissionError(13, "Permission denied", "/some/where.wav"))
    assert str(told).startswith("Cannot use /some/where.wav: permission denied. ")
    gone = file_system_error(FileNotFoundError(2, "No such file or directory", "/some/gone.wav"))
    assert "it does not exist (or vanished while distill used it)" in str(gone)
    assert file_system_error(ConnectionResetError(104, "Connection reset by peer")) is None
    moved = told.at(Path("/the/name/the/user/knows.wav"))
    assert type(moved) is FileSystemError and "knows.wav: permission denied" in str(moved)


# --- as an ordinary user --------------------------------------------------------------------


def test_permission_denied_on_write_is_one_sentence_as_an_ordinary_user(shared_folder):
    child_can_import_distill(shared_folder)
    locked = shared_folder / "locked"
    locked.mkdir(mode=0o755)
    if os.geteuid() != 0:
        locked.chmod(0o555)  # an ordinary user's own folder, made read-only
    script = "from distill.files import write_text_atomic; write_text_atomic({!r}, 'x')"
    result = as_ordinary_user(
        [sys.executable, "-c", script.format(str(locked / "x.json"))], shared_folder / "home"
    )
    assert result.returncode != 0
    assert f"FileSystemError: Cannot write {locked / 'x.json'}: permission denied. " in result.stderr
    assert leftovers(locked) == []


@pytest.mark.slow  # a child process that runs the CLI (imports torch): several seconds
def test_scan_skips_a_file_it_may_not_read_and_says_why(shared_folder):
    child_can_import_distill(shared_folder)
    sounds = shared_folder / "sounds"
    sounds.mkdir(mode=0o755)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    for name in ("open.wav", "private.wav"):
        sf.write(sounds / name, tone, 22050)
    (sounds / "private.wav").chmod(0o000 if os.geteuid() != 0 else 0o600)  # root owns it: nobody may not read
    scan = [str(Path(sys.executable).parent / "distill"), "scan", str(sounds), "--no-cache"]
    result = as_ordinary_user(scan, shared_folder / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "private.wav" in result.stdout and "cannot be read: permission denied" in result.stdout
    assert "1 usable, 1 skipped" in result.stdout


@pytest.mark.slow  # generates with the tiny model
def test_generate_into_a_path_under_a_file_is_one_line_and_writes_nothing(tmp_path):
    from tiny_library import tiny_model_file
    from typer.testing import CliRunner

    from distill.cli.main import app

    model = tiny_model_file(tmp_path / "tiny.distillgan")
    (tmp_path / "taken").write_text("mine")
    for target, reason in [
        (tmp_path / "taken" / "x.wav", "a part of the path is a file, not a folder"),
        (tmp_path / ("y" * 300 + ".wav"), "the name is too long for the file system"),
    ]:
        result = CliRunner().invoke(app, ["generate", str(model), "-d", "1", "-o", str(target)])
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith(f"error: Cannot write {target}") and reason in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["taken", "tiny.distillgan"]
    assert (tmp_path / "taken").read_text() == "mine"


@pytest.mark.slow  # a child process that runs the CLI (imports torch): several seconds
def test_generate_into_a_folder_it_may_not_write_is_one_line_as_an_ordinary_user(shared_folder):
    from tiny_library import tiny_model_file

    child_can_import_distill(shared_folder)
    model = tiny_model_file(shared_folder / "tiny.distillgan")
    model.chmod(0o644)
    locked = shared_folder / "out"
    locked.mkdir(mode=0o755)
    if os.geteuid() != 0:
        locked.chmod(0o555)
    command = [str(Path(sys.executable).parent / "distill"), "generate", str(model), "-d", "1",
               "--mode", "continuous", "-o", str(locked / "x.wav")]  # fmt: skip
    result = as_ordinary_user(command, shared_folder / "home")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(
        f"error: Cannot write {locked / 'x.wav'}: permission denied"
    )
    assert leftovers(locked) == []


@pytest.mark.slow  # a child process that runs train.py (imports torch and Hydra): several seconds
def test_train_py_with_a_run_folder_it_may_not_make_is_one_line_as_an_ordinary_user(shared_folder):
    child_can_import_distill(shared_folder)
    sounds = shared_folder / "sounds"
    sounds.mkdir(mode=0o755)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    sf.write(sounds / "tone.wav", tone, 22050)
    locked = shared_folder / "runs"
    locked.mkdir(mode=0o755)
    if os.geteuid() != 0:
        locked.chmod(0o555)
    train_py = Path(__file__).resolve().parents[1] / "train.py"
    command = [sys.executable, str(train_py), f"data.path={sounds}", f"hydra.run.dir={locked / 'run'}",
               f"paths.cache_dir={shared_folder / 'cache'}", "trainer.max_steps=1"]  # fmt: skip
    result = as_ordinary_user(command, shared_folder / "home", cwd=shared_folder)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"error: Cannot use {locked / 'run'}: permission denied")
    assert leftovers(locked) == []


@pytest.mark.slow  # child processes that run the CLI (import torch): several seconds each
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # Another user's library: even reading its WAL index needs a file beside it.
        (["models", "list", "--library", "{library}"], "error: Cannot use the model library {library}: "),
        (
            ["models", "info", "tiny", "--library", "{library}"],
            "error: Cannot use the model library {library}: ",
        ),
        (
            ["encode", "{model}", "{audio}", "-o", "{locked}/x.codes"],
            "error: Cannot write {locked}/x.codes: ",
        ),
        (["models", "tag", "tiny", "mine", "--library", "{library}"], "error: Cannot use the model library "),
    ],
    ids=["models-list", "models-info", "encode", "models-tag"],
)
def test_commands_on_another_users_files_are_one_line_as_an_ordinary_user(shared_folder, command, expected):
    from tiny_library import tiny_library, tiny_model_file

    child_can_import_distill(shared_folder)
    if os.geteuid() != 0:
        pytest.skip("needs files owned by another user: root makes them for nobody")
    places = {
        "library": tiny_library(shared_folder / "library"),
        "model": tiny_model_file(shared_folder / "tiny.distillgan"),
        "sounds": shared_folder / "sounds",
        "audio": shared_folder / "sounds" / "tone.wav",
        "locked": shared_folder / "locked",
    }
    places["sounds"].mkdir()
    sf.write(places["audio"], 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050), 22050)
    places["locked"].mkdir()
    for path in shared_folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by all, writable by root only
    command = [part.format(**places) for part in command]
    result = as_ordinary_user(
        [str(Path(sys.executable).parent / "distill"), *command], shared_folder / "home"
    )
    lines = error_lines(result)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr, lines
    assert len(lines) == 1 and lines[0].startswith(expected.format(**places)), lines
    assert leftovers(places["locked"]) == []


# --- a read-only disk, a file that vanishes ------------------------------------------------------


@pytest.mark.slow  # generates with the tiny model
def test_generate_onto_a_read_only_disk_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    import errno

    from cli_in_process import run_distill
    from tiny_library import tiny_model_file

    model = tiny_model_file(tmp_path / "tiny.distillgan")
    disk = tmp_path / "mounted-read-only"
    disk.mkdir()
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):  # as the kernel answers on a read-only mount
        if str(path).startswith(str(disk)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    outcome = run_distill(["generate", str(model), "-d", "0.5", "-n", "2", "-o", str(disk / "x.wav")])
    assert outcome.exit_code == 2 and outcome.traceback is None, outcome.describe()
    assert outcome.lines == [
        f"error: Cannot write {disk / 'x.wav'}: the file system is read-only. Nothing was changed there;"
        " choose a place on a writable disk."
    ]
    assert leftovers(disk) == []


@pytest.mark.parametrize("cached", [False, True])
def test_a_file_that_vanishes_between_listing_and_reading_is_skipped_with_its_reason(tmp_path, cached):
    from distill.audio.mel import MelConfig
    from distill.data.scan import scan_folder
    from distill.data.store import DecodingStore, MelCache

    sounds = tmp_path / "sounds"
    sounds.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    for name in ("a.wav", "b.wav"):
        sf.write(sounds / name, tone, 22050)
    store = (
        MelCache(root=tmp_path / "cache", mel_config=MelConfig())
        if cached
        else DecodingStore(mel_config=MelConfig())
    )

    def vanish(path: Path) -> None:  # another program deletes b.wav just as the scan reaches it
        if path.name == "b.wav":
            path.unlink()

    report = scan_folder(sounds, store=store, on_file=vanish)
    assert [entry.path.name for entry in report.usable] == ["a.wav"]
    assert [(skipped.path.name, skipped.reason) for skipped in report.skipped] == [
        ("b.wav", "cannot be read: it does not exist (or vanished while distill used it)")
    ]


def test_ctrl_c_inside_a_deferred_block_comes_after_it_and_an_ignored_one_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        finished = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                signal.raise_signal(signal.SIGINT)
                finished.append(True)  # the block runs to its end first
        assert finished == [True]
        # A process started with SIGINT ignored (in the background by a script, by nohup) is not
        # interrupted by one that arrives during the block either.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_bigvgan_loads_for_a_user_whose_home_is_not_writable(shared_folder, monkeypatch):
    """bigvgan imports librosa, which numba caches on disk at import: beside the package or under
    the home. A user who may write neither got numba's traceback from every command that asks
    whether BigVGAN is available."""
    pytest.importorskip("bigvgan")
    child_can_import_distill(shared_folder)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    home = shared_folder / "home"
    home.chmod(0o555)  # the user's home (as_ordinary_user hands it over), made read-only
    script = "from distill.vocoders import bigvgan; print('available:', bigvgan.is_available())"
    result = as_ordinary_user([sys.executable, "-c", script], home)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-800:]
    assert "available:" in result.stdout


def test_a_wav_turns_a_loud_sound_down_by_one_gain_instead_of_clipping(tmp_path):
    loud = np.array([0.0, 0.5, 2.0, -1.0, 0.25], np.float32)
    played, rate = sf.read(io.BytesIO(wav_bytes(loud, 22050)), dtype="float32")
    assert rate == 22050
    assert np.allclose(played, loud / 2.0, atol=1e-4)  # every sample keeps its share of the peak
    written, _ = sf.read(write_wav_atomic(tmp_path / "loud.wav", loud, 22050), dtype="float32")
    assert np.allclose(written, loud / 2.0, atol=1e-4)  # previews too
    quiet = np.array([0.0, 0.5, -0.25], np.float32)
    assert np.allclose(sf.read(io.BytesIO(wav_bytes(quiet, 22050)), dtype="float32")[0], quiet, atol=1e-4)
