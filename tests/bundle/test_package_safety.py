"""Packaging and the library under a SIGKILL at any moment and on a full disk.

A kill must leave nothing partial once the library is next changed, the index equal to what
``repair()`` would build, and a rerun that works; a full disk (simulated with RLIMIT_FSIZE, which
makes a write fail with EFBIG: Python ignores SIGXFSZ) must be one clear error and leave nothing.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_catalog import model_file
from test_package import FakeRuns, make_fake_runs

from distill.bundle.catalog import ModelLibrary
from distill.bundle.errors import ModelExistsError
from distill.bundle.format import verify_model_file
from distill.bundle.package import package_runs
from distill.files import DiskFullError, temp_path_for

# Runs package_runs in a child that stops (sleeps, waiting for its SIGKILL) at one moment:
#   write N: halfway through the Nth model file write (1: the stage in the library folder,
#            2: the copy add() makes in models/);
#   placed:  right after the model file is renamed into models/, before its row commits.
PACKAGER = textwrap.dedent(
    """
    import json, os, sys, time, zipfile
    from pathlib import Path

    import distill.bundle.format as fmt
    from distill.bundle.package import package_runs

    args = json.loads(sys.argv[1])
    marker = Path(args["marker"])

    def wait_for_the_kill():
        marker.touch()
        time.sleep(600)

    if args["stop"] == "write":
        writes = []
        full_write = fmt._write_zip

        def half_write(handle, entries):
            writes.append(1)
            if len(writes) < args["nth"]:
                return full_write(handle, entries)
            handle.write(b"PK\\x03\\x04" + bytes(4096))  # the start of an archive, and no more
            handle.flush()
            wait_for_the_kill()

        fmt._write_zip = half_write
    elif args["stop"] == "placed":
        real_replace = os.replace

        def replace(src, dst):
            real_replace(src, dst)
            if Path(dst).suffix == ".distillgan" and Path(dst).parent.name == "models":
                wait_for_the_kill()

        os.replace = replace
    package_runs(**args["package"])
    marker.touch()
    """
)


def package_args(runs: FakeRuns, library: ModelLibrary) -> dict:
    return {"vqvae": str(runs.vqvae), "prior": str(runs.prior), "name": "drums", "library": str(library.root)}


def leftovers(library: ModelLibrary) -> list[str]:
    """Every path in the library folder other than the index and whole, indexed model files."""
    kept = {"catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "models"}
    indexed = {entry.path for entry in library.list()}
    found = [p for p in library.root.rglob("*") if p.name not in kept and p not in indexed]
    return sorted(str(p.relative_to(library.root)) for p in found)


def assert_consistent(library: ModelLibrary) -> list[str]:
    """Nothing partial, every entry verifies, and repair finds nothing to change."""
    assert leftovers(library) == []
    entries = library.list()
    for entry in entries:
        assert verify_model_file(entry.path).metadata["name"] == entry.name
    report = library.repair()
    assert report.skipped == {} and report.indexed == tuple(e.name for e in entries)
    assert library.list() == entries
    return [entry.name for entry in entries]


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment",
    [
        {"stop": "start"},  # killed while still importing
        {"stop": "write", "nth": 1},
        {"stop": "write", "nth": 2},
        {"stop": "placed"},
        {"stop": "late"},  # killed as soon as the model file shows up in models/
    ],
    ids=lambda moment: "-".join(str(v) for v in moment.values()),
)
def test_sigkill_at_any_moment_leaves_nothing_partial(tmp_path: Path, moment: dict) -> None:
    runs = make_fake_runs(tmp_path)
    library = ModelLibrary(root=tmp_path / "library")
    library.add(model_file(tmp_path / "out", "earlier"), name="earlier")  # a model that must survive
    marker = tmp_path / "stopped"
    args = {**moment, "marker": str(marker), "package": package_args(runs, library)}
    child = subprocess.Popen([sys.executable, "-c", PACKAGER, json.dumps(args)], stderr=subprocess.PIPE)
    final = library.path_for("drums")
    deadline = time.monotonic() + 120
    if moment["stop"] != "start":
        while not (marker.exists() or final.exists()):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the packager never reached the moment"
            time.sleep(0.002)
    child.kill()
    child.wait()
    child.stderr.close()
    if moment["stop"] in ("write", "placed"):
        # The moment was really reached: the killed writer left its temp (or an unindexed file).
        assert leftovers(library) != []
    landed = moment["stop"] == "placed" or (moment["stop"] == "late" and final.exists())

    # The next change to the library: the same packaging again.
    if landed:  # the file was whole in place: the add stands, so the name is taken
        with pytest.raises(ModelExistsError, match="already has that name"):
            package_runs(**package_args(runs, library))
    else:
        package_runs(**package_args(runs, library))
    assert assert_consistent(library) == ["drums", "earlier"]
    assert library.get("drums").path.stat().st_size > 0


def test_the_next_change_settles_what_a_killed_writer_left(tmp_path: Path) -> None:
    """The states a kill can leave, laid out by hand: each is settled by the next add."""
    library = ModelLibrary(root=tmp_path / "library")
    kept = library.add(model_file(tmp_path / "out", "kept"), name="kept")
    unlinked = library.add(model_file(tmp_path / "out", "unlinked"), name="unlinked")
    unlinked.path.unlink()  # a delete killed after its unlink, before its commit
    placed = library.path_for("placed")  # an add killed after its rename, before its commit
    placed.write_bytes(model_file(tmp_path / "out", "placed").read_bytes())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    abandoned = [
        library.models_dir / f".x.distillgan.{dead_pid}-{'0' * 16}.tmp",
        library.root / f".y.distillgan.{dead_pid}-{'1' * 16}.tmp",
    ]
    for path in abandoned:
        path.write_bytes(b"PK half")
    live = temp_path_for(library.path_for("in-flight"))  # this process is alive: never removed
    live.write_bytes(b"PK")
    assert [e.name for e in library.list()] == ["kept", "unlinked"]

    library.add(model_file(tmp_path / "out", "new"), name="new")
    assert [e.name for e in library.list()] == ["kept", "new", "placed"]
    assert library.get("placed").path == placed and library.get("kept") == kept
    assert not any(path.exists() for path in abandoned) and live.exists()
    live.unlink()
    assert assert_consistent(library) == ["kept", "new", "placed"]


def test_a_rerun_stopped_by_the_taken_name_still_clears_the_killed_stage(tmp_path: Path) -> None:
    """Killed after its file was placed, before it removed its stage: the rerun stops at the taken
    name, and the stage goes all the same (the kill test's 'late' moment, made certain)."""
    runs = make_fake_runs(tmp_path)
    library = ModelLibrary(root=tmp_path / "library")
    package_runs(**package_args(runs, library))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    stage = library.root / f".drums.distillgan.{int(dead.stdout)}-{'2' * 16}.tmp"
    stage.write_bytes(library.path_for("drums").read_bytes())
    with pytest.raises(ModelExistsError, match="already has that name"):
        package_runs(**package_args(runs, library))
    assert not stage.exists() and assert_consistent(library) == ["drums"]


# --- a full disk ---------------------------------------------------------------------------------

LIMITED = textwrap.dedent(
    """
    import json, sys
    from distill.bundle.catalog import ModelLibrary
    from distill.bundle.package import package_runs
    from distill.files import DiskFullError

    args = json.loads(sys.argv[1])
    try:
        if "add" in args:
            ModelLibrary(root=args["library"]).add(args["add"], name="added")
        else:
            package_runs(**args)
    except DiskFullError as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    else:
        print(json.dumps({"error": None}))
    """
)
LIMIT = 64 * 1024  # room for the index and its journal (~20 KB), not for a model file (>100 KB)


def limited(limit: int):
    """A preexec_fn: the child may write no file past ``limit`` bytes (a full disk)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def run_limited(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, preexec_fn=limited(LIMIT), env=env
    )


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory: pytest.TempPathFactory) -> FakeRuns:
    return make_fake_runs(tmp_path_factory.mktemp("runs"))


@pytest.mark.slow
def test_full_disk_while_packaging_is_one_error_and_leaves_nothing(
    tmp_path: Path, fake_runs: FakeRuns
) -> None:
    library = ModelLibrary(root=tmp_path / "library")
    library.add(model_file(tmp_path / "out", "earlier"), name="earlier")
    args = package_args(fake_runs, library)
    result = run_limited([sys.executable, "-c", LIMITED, json.dumps(args)])
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["error"] == "DiskFullError", outcome
    assert str(library.path_for("drums")) in outcome["message"] and "free some space" in outcome["message"]
    assert hidden_files(library.root) == [] and assert_consistent(library) == ["earlier"]

    # add() copying a whole file into models/ when there is no room for it
    source = package_runs(**{**args, "output": str(tmp_path / "out" / "drums.distillgan")}).path
    assert source.stat().st_size > LIMIT  # else the limit tests nothing
    result = run_limited(
        [sys.executable, "-c", LIMITED, json.dumps({"library": args["library"], "add": str(source)})]
    )
    outcome = json.loads(result.stdout)
    assert outcome["error"] == "DiskFullError" and str(library.path_for("added")) in outcome["message"]
    assert hidden_files(library.root) == [] and assert_consistent(library) == ["earlier"]

    package_runs(**args)  # with room again it works
    assert assert_consistent(library) == ["drums", "earlier"]


@pytest.mark.slow
def test_full_disk_while_writing_output_keeps_the_earlier_file(tmp_path: Path, fake_runs: FakeRuns) -> None:
    output = tmp_path / "share" / "drums.distillgan"
    output.parent.mkdir()
    output.write_bytes(b"the earlier file")
    args = {**package_args(fake_runs, ModelLibrary(root=tmp_path / "library")), "output": str(output)}
    result = run_limited([sys.executable, "-c", LIMITED, json.dumps(args)])
    outcome = json.loads(result.stdout)
    assert outcome["error"] == "DiskFullError" and str(output) in outcome["message"]
    assert output.read_bytes() == b"the earlier file"
    assert sorted(p.name for p in output.parent.iterdir()) == ["drums.distillgan"]


@pytest.mark.slow
def test_package_command_on_a_full_disk_prints_one_error_line(tmp_path: Path, fake_runs: FakeRuns) -> None:
    library = tmp_path / "library"
    argv = [sys.executable, "-m", "distill.cli.main", "package"]
    argv += ["--vqvae", str(fake_runs.vqvae), "--name", "drums", "--library", str(library)]
    result = run_limited(argv)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Cannot write"), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert hidden_files(library) == [] and ModelLibrary(root=library).list() == []


def test_a_full_index_is_one_clear_error_and_takes_the_file_back_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = ModelLibrary(root=tmp_path / "library")
    library.add(model_file(tmp_path / "out", "earlier"), name="earlier")
    connect = ModelLibrary._connect

    def full_disk(self: ModelLibrary):
        con = connect(self)
        # No page may be added: a row that needs one fails with SQLITE_FULL, as on a full disk.
        con.execute(f"PRAGMA max_page_count = {con.execute('PRAGMA page_count').fetchone()[0]}")
        return con

    monkeypatch.setattr(ModelLibrary, "_connect", full_disk)
    with pytest.raises(DiskFullError, match="catalog.sqlite"):
        library.add(model_file(tmp_path / "out", "big"), name="big", tags=["x" * 20_000])
    monkeypatch.undo()
    assert assert_consistent(library) == ["earlier"]
