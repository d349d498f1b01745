"""The public notebook API on places it cannot use: every call that reads or writes a file
(``notebook_calls.py``), on a folder where its file should be, a file where a folder should be, a
name too long, a read-only disk, a missing file, and (as an ordinary user, in one child process)
places it may not read or write. Each failure is one ``UserError`` sentence naming the path given
and what to do, never a bare OSError, and leaves nothing in the folder: no partial file, no temp.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from notebook_calls import READ_SOURCES, READS, WRITE_NAMES, WRITES, Made, make, outcome, run
from ordinary_user import leftovers, run_as_nobody, scratch_for_nobody, share_with_nobody

# case -> (what happened, what to do), as the sentence says them
TOLD = {
    "folder": ("it is a folder", "give a file name"),
    "in-a-file": ("a part of the path is a file, not a folder", "give a path whose folders are folders"),
    "too-long": ("the name is too long for the file system", "use a shorter name"),
    "read-only": ("the file system is read-only", "choose a place on a writable disk"),
    "permission": ("permission denied", "check its and its folders' permissions, or choose another place"),
}
# A missing file is the call's own sentence (not a file-system failure), still saying what to do.
MISSING_ADVICE = {"generate(hrtf=)": "give a SOFA file"}
# A library is a folder, made when missing: an empty or missing one is an empty library, no failure.
READ_CASES = [
    (call, case)
    for call in READS
    for case in ("missing", "folder", "in-a-file", "too-long")
    if not (READ_SOURCES[call] == "library" and case in ("missing", "folder"))
]


def snapshot(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.lstat().st_size for path in sorted(folder.rglob("*"))}


def assert_told(
    told: dict, path: Path, reason: str | None, advice: str, kind: str = "FileSystemError"
) -> None:
    """One UserError sentence of ``kind`` naming ``path`` (not a temp name), ``reason`` (None: any)
    and ``advice``."""
    message = told["message"]
    assert told["traceback"] is None, told["traceback"]  # a UserError: a notebook shows just the line
    assert "UserError" in told["types"] and kind in told["types"], (told["types"], message)
    assert message and "\n" not in message, message
    assert str(path) in message and ".tmp" not in message, message
    assert (reason is None or reason in message) and advice in message, message


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Made:
    from tiny_library import tiny_model_file

    return make(tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.distillgan"))


def write_sources(made: Made, folder: Path) -> dict[str, Path]:
    """One of each file the reads are given (READ_SOURCES), in ``folder``."""
    from tiny_library import tiny_library

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(made.model.path, folder / "tiny.distillgan")
    made.generation.audio.save(folder / "sound.wav")
    (folder / "h.sofa").write_bytes(b"SOFA")  # never parsed: the cases refuse to read it first
    return {
        "model": folder / "tiny.distillgan",
        "library": tiny_library(folder / "lib"),
        "grid": made.generation.grid.save(folder / "grid.codes"),
        "sound": folder / "sound.wav",
        "sidecar": folder / "sound.wav.json",
        "session": made.editor.save(folder / "session.json"),
        "hrtf": folder / "h.sofa",
    }


def source_suffix(call: str) -> str:
    """The suffix of what the read ``call`` is given (a library, a folder: none)."""
    return {"model": ".distillgan", "library": "", "grid": ".codes", "sound": ".wav",
            "sidecar": ".wav.json", "session": ".json", "hrtf": ".sofa"}[READ_SOURCES[call]]  # fmt: skip


def place(folder: Path, case: str, name: str) -> Path:
    """Where ``case`` puts a file called ``name`` in ``folder`` (what is in the way made here)."""
    if case == "folder":
        (folder / name).mkdir(parents=True)
        return folder / name
    if case == "in-a-file":
        (folder / "taken").write_text("mine")
        return folder / "taken" / name
    if case == "too-long":
        return folder / ("y" * 300 + name)
    return folder / name


# --- in this process: what no permission decides ----------------------------------------------------


@pytest.mark.parametrize("case", ["folder", "in-a-file", "too-long", "read-only"])
@pytest.mark.parametrize("call", list(WRITES))
def test_a_write_to_a_place_it_cannot_use_is_one_sentence(made, tmp_path, monkeypatch, call, case):
    target = place(tmp_path, case, WRITE_NAMES[call])
    if case == "read-only":
        real_open = os.open

        def read_only_open(path, flags, *args, **kwargs):  # as the kernel answers on a read-only mount
            if str(path).startswith(str(tmp_path)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", read_only_open)
    before = snapshot(tmp_path)
    assert_told(run(made, "write", call, str(target)), target, *TOLD[case])
    assert snapshot(tmp_path) == before  # no partial file, no temp, no sidecar, no folder made


@pytest.mark.parametrize(("call", "case"), READ_CASES)
def test_a_read_of_a_place_it_cannot_use_is_one_sentence(made, tmp_path, call, case):
    source = place(tmp_path, case, f"source{source_suffix(call)}")
    before = snapshot(tmp_path)
    told = run(made, "read", call, str(source))
    if case == "missing":  # the call's own sentence, which says what is missing in its own words
        assert_told(told, source, None, MISSING_ADVICE.get(call, "check the path"), kind="UserError")
    else:
        assert_told(told, source, *TOLD[case])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("call", list(WRITES))
def test_a_write_makes_the_missing_folders_on_the_way(made, tmp_path, call):
    target = tmp_path / "new" / "sub" / WRITE_NAMES[call]
    assert run(made, "write", call, str(target)) == {"types": [], "message": "", "traceback": None}
    assert target.is_file()


def test_audio_whose_sidecar_name_is_a_folder_is_not_written_either(made, tmp_path):
    """``x.wav.json`` a folder: refused before the audio is in place, never audio without its sidecar."""
    (tmp_path / "x.wav.json").mkdir()
    before = snapshot(tmp_path)
    told = outcome(lambda: made.generation.audio.save(tmp_path / "x.wav"))
    assert_told(told, tmp_path / "x.wav.json", *TOLD["folder"])
    assert snapshot(tmp_path) == before


# --- as an ordinary user, in one child: places it may not read or write -----------------------------

# (kind, call, place) for every call; the places are filled in by ``nobody`` below.
PERMISSION_CASES = [
    *[("write", call, where) for call in WRITES for where in ("locked", "locked-new-folders")],
    *[("read", call, where) for call in READS for where in ("unreadable", "in-a-folder-it-may-not-enter")],
]
# An unreadable library is told by its index, which even reading needs to open.
LIBRARY_TOLD = ("Cannot use the model library", "Use a library of your own")


def permission_path(root: Path, sources: dict[str, Path], kind: str, call: str, where: str) -> Path:
    if kind == "write":
        folder = root / "locked" if where == "locked" else root / "locked" / "new" / "sub"
        return folder / WRITE_NAMES[call]
    source = sources[READ_SOURCES[call]]
    return root / ("unreadable" if where == "unreadable" else "secret") / source.name


@pytest.fixture(scope="module")
def nobody(made):
    """Every case of PERMISSION_CASES run by nobody in one child (torch imported once): root's
    files, some it may not read, and a folder it may not write, beside a home of its own."""
    with scratch_for_nobody() as (root, home):
        sources = write_sources(made, root / "unreadable")
        shutil.copytree(root / "unreadable", root / "secret")
        (root / "locked").mkdir()
        shutil.copyfile(made.model.path, root / "model.distillgan")
        share_with_nobody(root, home)
        for path in (root / "unreadable").rglob("*"):
            path.chmod(0o700 if path.is_dir() else 0o600)
        (root / "secret").chmod(0o700)
        cases = [[kind, call, str(permission_path(root, sources, kind, call, where))]
                 for kind, call, where in PERMISSION_CASES]  # fmt: skip
        (home / "cases.json").write_text(json.dumps(cases))
        before = {name: snapshot(root / name) for name in ("unreadable", "secret", "locked")}
        driver = Path(__file__).resolve().parent / "notebook_calls.py"
        results = run_as_nobody(driver, str(root / "model.distillgan"), str(home / "cases.json"), home=home)
        told = dict(zip(PERMISSION_CASES, results, strict=True))
        after = {name: snapshot(root / name) for name in before}
        yield root, sources, told, before, after


@pytest.mark.slow  # a child as nobody that imports torch and makes a sound: ~10 s, once for all
@pytest.mark.parametrize(("kind", "call", "where"), PERMISSION_CASES)
def test_a_place_it_may_not_use_is_one_sentence_as_an_ordinary_user(nobody, kind, call, where):
    root, sources, told, before, after = nobody
    path = permission_path(root, sources, kind, call, where)
    if (call, where) == ("DistillModel.load(library=)", "unreadable"):
        assert_told(told[kind, call, where], path, *LIBRARY_TOLD, kind="LibraryError")
    else:
        assert_told(told[kind, call, where], path, *TOLD["permission"])
    assert after == before  # nothing written, nothing left: not even the missing folders
    assert leftovers(root / "locked") == []
