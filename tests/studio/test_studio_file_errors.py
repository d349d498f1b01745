"""The studio on places it cannot use: a workspace or library that is a file (in this process), and
(as an ordinary user, in one child) a workspace it may not write or read and a library it may not
read. Each is the file-system sentence on the panel's status line, naming the place and what to do:
never a traceback out of ``Studio()``, never "Something went wrong", and nothing written there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_sound_folder
from ordinary_user import leftovers, run_as_nobody, scratch_for_nobody, share_with_nobody
from studio_calls import run
from tiny_library import tiny_library

IN_A_FILE = ("a part of the path is a file, not a folder", "give a path whose folders are folders")
DENIED = ("permission denied", "check its and its folders' permissions, or choose another place")


def assert_status(told: dict, panel: str, written: str, place: Path, reason: str, advice: str) -> None:
    """``panel``'s status is the one error line ``Cannot <written> <place>...: <reason> ... <advice>``."""
    assert told["raised"] is None, told["raised"]  # nothing escaped into the notebook
    status = told[panel]
    text = status["text"]
    assert status["error"] and text and "\n" not in text, status
    assert text.startswith(f"Cannot {written} {place}"), text
    assert reason in text and advice in text and "Something went wrong" not in text, text


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib")


# --- in this process: a workspace or library that is a file ------------------------------------------


def test_a_workspace_that_is_a_file_is_one_status_line_on_each_panel(library, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.write_text("mine")
    sounds = make_sound_folder(tmp_path / "sounds", 2)
    started = run("train_start", dict(workspace=str(workspace), library=str(library), sounds=str(sounds)))
    assert_status(started, "train", "use", workspace / "runs", *IN_A_FILE)
    kept = run("keep", dict(workspace=str(workspace), library=str(library)))
    assert_status(kept, "generate", "write", workspace / "kept", *IN_A_FILE)
    assert kept["returned"] is None
    report = run("open_report", dict(workspace=str(workspace), library=str(library)))
    assert_status(report, "library", "write", workspace / "reports" / "tiny.html", *IN_A_FILE)
    assert report["returned"] is None
    assert workspace.read_text() == "mine"


def test_a_library_that_is_a_file_is_one_status_line_on_each_panel_that_lists_it(tmp_path):
    library = tmp_path / "library"
    library.write_text("mine")
    opened = run("studio", dict(workspace=str(tmp_path / "workspace"), library=str(library)))
    for panel in ("generate", "library", "edit"):
        assert_status(opened, panel, "use", library, *IN_A_FILE)
    assert library.read_text() == "mine"


# --- as an ordinary user, in one child ----------------------------------------------------------------

# (action, its arguments' places); the places are filled in by ``nobody`` below.
CASES = {
    "start-in-a-workspace-it-may-not-write": ("train_start", dict(workspace="locked", sounds="sounds")),
    "keep-into-a-workspace-it-may-not-write": ("keep", dict(workspace="locked")),
    "report-into-a-workspace-it-may-not-write": ("open_report", dict(workspace="locked")),
    "a-workspace-it-may-not-read": ("studio", dict(workspace="secret/workspace")),
    "a-library-it-may-not-read": ("studio", dict(workspace="home/workspace", library="secret/lib")),
}


@pytest.fixture(scope="module")
def nobody():
    """Every case of CASES run by nobody in one child (torch imported once): root's folders, some
    it may not read or write, beside a home and a library of its own."""
    with scratch_for_nobody() as (root, home):
        tiny_library(home / "lib")  # its own: even reading a library writes beside its index
        tiny_library(root / "secret" / "lib")
        make_sound_folder(root / "sounds", 2)
        (root / "locked").mkdir()
        share_with_nobody(root, home)
        (root / "secret").chmod(0o700)
        cases = [
            [
                action,
                {"library": str(home / "lib"), **{key: str(root / value) for key, value in places.items()}},
            ]
            for action, places in CASES.values()
        ]
        (home / "cases.json").write_text(json.dumps(cases))
        driver = Path(__file__).resolve().parent / "studio_calls.py"
        results = run_as_nobody(driver, str(home / "cases.json"), home=home)
        yield root, dict(zip(CASES, results, strict=True))


@pytest.mark.slow  # a child as nobody that imports torch and makes a sound: ~10 s, once for all
def test_a_workspace_it_may_not_write_is_one_status_line_as_an_ordinary_user(nobody):
    root, told = nobody
    locked = root / "locked"
    assert_status(told["start-in-a-workspace-it-may-not-write"], "train", "use", locked / "runs", *DENIED)
    kept = told["keep-into-a-workspace-it-may-not-write"]
    assert_status(kept, "generate", "write", locked / "kept", *DENIED)
    assert kept["returned"] is None
    report = told["report-into-a-workspace-it-may-not-write"]
    assert_status(report, "library", "write", locked / "reports" / "tiny.html", *DENIED)
    assert report["returned"] is None
    assert leftovers(locked) == []  # no job folder, no kept sound, no report page, no temp


@pytest.mark.slow
def test_a_workspace_or_library_it_may_not_read_is_one_status_line_as_an_ordinary_user(nobody):
    root, told = nobody
    workspace = told["a-workspace-it-may-not-read"]
    assert_status(workspace, "train", "use", root / "secret" / "workspace" / "runs", *DENIED)
    library = told["a-library-it-may-not-read"]
    for panel in ("generate", "library", "edit"):
        assert_status(library, panel, "use", root / "secret" / "lib", *DENIED)
