"""The model library: add/list/resolve/delete/tag, name safety, repair, and concurrent adders."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from distill.bundle import catalog, index_db
from distill.bundle.catalog import ModelLibrary, default_library_root
from distill.bundle.errors import (
    AmbiguousModelError,
    ChecksumError,
    InvalidModelNameError,
    LibraryError,
    MetadataError,
    ModelExistsError,
    ModelNotFoundError,
)
from distill.bundle.format import ComponentPayload, read_manifest, read_model_file, write_model_file
from distill.bundle.index_db import DamagedIndexError
from distill.vocoders import MSTFT_VERSION


def metadata(name: str, model_id: str | None = None, **changes) -> dict:
    return {
        "id": model_id or uuid.uuid4().hex,
        "name": name,
        "created": "2026-05-09T07:35:25+00:00",
        "dataset": {"tier": "small", "file_count": 12, "total_duration_s": 31.5},
        "codebook_health": {"levels": [{"utilization": 0.95}, {"utilization": 0.62}, {"utilization": 0.8}]},
        "vocoder": {
            "type": "vocos",
            "steps": 50000,
            "quality": {"mel_l1": 0.25, "mstft": 1.41, "files": 3, "mstft_version": MSTFT_VERSION},
        },
        **changes,
    }


def model_file(folder: Path, name: str, meta: dict | None = None, *, vocoder: bool = True) -> Path:
    """A small valid model file outside the library, as packaging would leave it."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"vqvae": ComponentPayload({"w": torch.randn(4, 3)}, "levels: 4\n")}
    if vocoder:
        parts["vocoder"] = ComponentPayload({"w": torch.randn(2, 5)}, "upsample: [8, 8]\n")
    path = folder / f"{name}-export.distillgan"
    write_model_file(path, parts, meta if meta is not None else metadata(name))
    return path


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    return ModelLibrary(root=tmp_path / "library")


def visible_files(library: ModelLibrary) -> list[str]:
    return sorted(p.name for p in library.models_dir.iterdir()) if library.models_dir.exists() else []


def test_add_then_list_gives_typed_entries_from_metadata(tmp_path: Path, library: ModelLibrary) -> None:
    source = model_file(tmp_path / "out", "drums")
    entry = library.add(source, name="drums", tags=["kick", "808"])
    assert library.list() == [entry]
    assert entry.name == "drums" and entry.path == library.models_dir / "drums.distillgan"
    assert entry.created == datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)
    assert (entry.tier, entry.file_count, entry.duration_s) == ("small", 12, 31.5)
    assert entry.components == ("vqvae", "vocoder")
    assert (entry.vocoder_type, entry.vocoder_steps, entry.vocoder_mstft) == ("vocos", 50000, 1.41)
    assert entry.min_codebook_utilization == pytest.approx(0.62)
    assert entry.tags == ("808", "kick")
    # The library's copy carries its name and tags; the weights are untouched.
    stamped = read_manifest(entry.path).metadata
    assert stamped["name"] == "drums" and stamped["tags"] == ["808", "kick"]
    assert torch.equal(
        read_model_file(entry.path).components["vqvae"].state_dict["w"],
        read_model_file(source).components["vqvae"].state_dict["w"],
    )


def test_a_vocoder_quality_on_an_older_scale_is_not_listed(tmp_path: Path, library: ModelLibrary) -> None:
    """An unbounded M-STFT from before MSTFT_VERSION 2 (122.78 on quiet organ notes) would read as
    a terrible vocoder beside today's numbers: the list leaves it out; `models info` says its scale."""
    old = {"type": "vocos", "steps": 9, "quality": {"mel_l1": 0.11, "mstft": 122.78, "files": 3}}
    entry = library.add(model_file(tmp_path, "organ", metadata("organ", vocoder=old)), name="organ")
    assert entry.vocoder_type == "vocos" and entry.vocoder_mstft is None
    assert library.list()[0].vocoder_mstft is None


def test_sparse_metadata_gives_none_fields(tmp_path: Path, library: ModelLibrary) -> None:
    entry = library.add(model_file(tmp_path, "bare", {"id": "abc123def"}, vocoder=False), name="bare")
    assert (entry.created, entry.tier, entry.file_count, entry.duration_s) == (None, None, None, None)
    assert entry.vocoder_type is None and entry.vocoder_mstft is None
    assert entry.min_codebook_utilization is None
    assert library.list() == [entry]


def test_name_defaults_to_metadata_name_and_tags_merge(tmp_path: Path, library: ModelLibrary) -> None:
    entry = library.add(model_file(tmp_path, "piano", metadata("piano", tags=["keys"])), tags="soft")
    assert entry.name == "piano" and entry.tags == ("keys", "soft")
    with pytest.raises(InvalidModelNameError, match="no metadata name"):
        library.add(model_file(tmp_path, "anon", {"id": "anon-id"}))


def test_name_or_id_resolves(tmp_path: Path, library: ModelLibrary) -> None:
    model_id = "3fa2b1c4d5e6f708192a3b4c5d6e7f80"
    entry = library.add(model_file(tmp_path, "voice", metadata("voice", model_id)), name="Voice")
    library.add(
        model_file(tmp_path, "other", metadata("other", "3fa2b1ffffffffffffffffffffffffff")), name="other"
    )
    for query in ("Voice", "voice", "VOICE", model_id, model_id[:10]):
        assert library.resolve(query) == entry.path
        assert library.get(query) == entry
    with pytest.raises(AmbiguousModelError, match="3fa2b1"):
        library.resolve("3fa2b1")
    with pytest.raises(ModelNotFoundError):
        library.resolve("3fa2")  # too short to be treated as an id prefix
    with pytest.raises(ModelNotFoundError, match="nobody"):
        library.resolve("nobody")


def test_name_clash_and_duplicate_id_are_refused(tmp_path: Path, library: ModelLibrary) -> None:
    first = library.add(model_file(tmp_path / "a", "drums"), name="drums")
    before = first.path.read_bytes()
    with pytest.raises(ModelExistsError, match="already has that name"):
        library.add(model_file(tmp_path / "b", "drums"), name="DRUMS")
    with pytest.raises(ModelExistsError, match="already there as 'drums'"):
        library.add(model_file(tmp_path / "c", "copy", metadata("copy", first.id)), name="copy")
    assert first.path.read_bytes() == before
    assert [e.name for e in library.list()] == ["drums"]
    assert visible_files(library) == ["drums.distillgan"]


@pytest.mark.parametrize(
    "name",
    ["", ".hidden", "..", "../escape", "a/b", "a\\b", "C:x", "tab\tname", " pad", "dot.", "CON", "x" * 129],
)
def test_unsafe_names_are_refused(tmp_path: Path, library: ModelLibrary, name: str) -> None:
    source = model_file(tmp_path, "ok")
    with pytest.raises(InvalidModelNameError) as caught:
        library.add(source, name=name)
    assert str(library.root) in str(caught.value)
    assert visible_files(library) == []
    assert not any(p.suffix == ".distillgan" for p in tmp_path.rglob("*") if p != source)


def test_unicode_and_spaces_inside_names_are_fine(tmp_path: Path, library: ModelLibrary) -> None:
    entry = library.add(model_file(tmp_path, "x"), name="Klavier – leise 2")
    assert library.resolve("klavier – leise 2") == entry.path


def test_invalid_sources_and_metadata_are_refused_before_anything_is_placed(
    tmp_path: Path, library: ModelLibrary
) -> None:
    broken = model_file(tmp_path, "broken")
    data = broken.read_bytes()
    weights = read_model_file(broken).components["vqvae"].state_dict["w"].numpy().tobytes()
    at = data.find(weights)  # the weights are stored uncompressed; flip one of their bits
    broken.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    with pytest.raises(ChecksumError):
        library.add(broken, name="broken")
    with pytest.raises(MetadataError, match="id"):
        library.add(model_file(tmp_path, "noid", {"name": "noid"}), name="noid")
    with pytest.raises(MetadataError, match="dataset.file_count"):
        library.add(model_file(tmp_path, "badcount", metadata("b", dataset={"file_count": "12"})), name="b")
    with pytest.raises(MetadataError, match=r"codebook_health.levels\[1\]"):
        library.add(
            model_file(
                tmp_path, "badlvl", metadata("c", codebook_health={"levels": [{"utilization": 1}, {}]})
            )
        )
    with pytest.raises(LibraryError, match="cannot be a tag"):
        library.add(model_file(tmp_path, "badtag"), name="badtag", tags=[" padded"])
    assert library.list() == [] and visible_files(library) == []


def test_failed_insert_takes_the_placed_file_back_out(
    tmp_path: Path, library: ModelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(folder: Path) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(catalog, "fsync_directory", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        library.add(model_file(tmp_path, "drums"), name="drums")
    monkeypatch.undo()
    assert library.list() == [] and visible_files(library) == []


def test_delete_removes_row_and_file(tmp_path: Path, library: ModelLibrary) -> None:
    keep = library.add(model_file(tmp_path, "keep"), name="keep")
    gone = library.add(model_file(tmp_path, "gone"), name="gone")
    library.delete("GONE")
    assert library.list() == [keep]
    assert not gone.path.exists() and visible_files(library) == ["keep.distillgan"]
    with pytest.raises(ModelNotFoundError):
        library.delete("gone")
    with pytest.raises(ModelNotFoundError):
        library.resolve(gone.id)


def test_tags_live_in_the_file_and_survive_repair(tmp_path: Path, library: ModelLibrary) -> None:
    library.add(model_file(tmp_path, "drums"), name="drums", tags=["kick"])
    assert library.tag("drums", ["snare", "kick"]).tags == ("kick", "snare")
    assert library.untag("drums", ["kick"]).tags == ("snare",)
    assert library.get("drums").tags == ("snare",)
    assert read_manifest(library.resolve("drums")).metadata["tags"] == ["snare"]
    library.index_path.unlink()
    assert library.repair().indexed == ("drums",)
    assert library.get("drums").tags == ("snare",)
    with pytest.raises(ModelNotFoundError):
        library.tag("nobody", ["x"])


def test_repair_after_deleting_the_index_restores_every_row(tmp_path: Path, library: ModelLibrary) -> None:
    added = [library.add(model_file(tmp_path, n), name=n, tags=[n[0]]) for n in ("a", "b", "c")]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{library.index_path}{suffix}").unlink(missing_ok=True)
    report = library.repair()
    assert report.indexed == ("a", "b", "c") and report.skipped == {}
    assert library.list() == added


def test_missing_index_is_rebuilt_on_first_use(tmp_path: Path, library: ModelLibrary) -> None:
    added = library.add(model_file(tmp_path, "drums"), name="drums")
    library.index_path.unlink()
    assert library.list() == [added]


def test_repair_replaces_a_garbage_index(tmp_path: Path, library: ModelLibrary) -> None:
    added = library.add(model_file(tmp_path, "drums"), name="drums")
    library.index_path.write_bytes(b"this is not a database" * 100)
    assert library.repair().indexed == ("drums",)
    assert library.list() == [added]


def test_a_damaged_index_is_one_sentence_with_the_repair_hint(tmp_path: Path, library: ModelLibrary) -> None:
    library.add(model_file(tmp_path, "drums"), name="drums")
    for suffix in ("-wal", "-shm"):
        Path(f"{library.index_path}{suffix}").unlink(missing_ok=True)
    library.index_path.write_bytes(b"this is not a database" * 100)
    for use in (library.list, lambda: library.get("drums"), lambda: library.tag("drums", ["x"])):
        with pytest.raises(DamagedIndexError) as told:
            use()
        assert f"`distill models repair --library {library.root}`" in str(told.value)
        assert str(library.models_dir) in str(told.value) and "\n" not in str(told.value)
    assert library.repair().indexed == ("drums",)


def test_an_index_locked_past_the_busy_timeout_is_one_sentence(
    tmp_path: Path, library: ModelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    library.add(model_file(tmp_path, "drums"), name="drums")
    monkeypatch.setattr(index_db, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(library.index_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-change, stuck
    try:
        assert [entry.name for entry in library.list()] == ["drums"]  # readers do not wait on a writer
        with pytest.raises(LibraryError, match=r"is busy: another process has held its index") as told:
            library.tag("drums", ["loud"])
        assert "\n" not in str(told.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert library.tag("drums", ["loud"]).tags == ("loud",)


def test_repair_follows_the_files(tmp_path: Path, library: ModelLibrary) -> None:
    vanished = library.add(model_file(tmp_path, "vanished"), name="vanished")
    library.add(model_file(tmp_path, "kept"), name="kept")
    vanished.path.unlink()  # removed by hand
    with pytest.raises(ModelNotFoundError, match="run repair"):
        library.resolve("vanished")
    (library.models_dir / "by-hand.distillgan").write_bytes(model_file(tmp_path, "h").read_bytes())
    (library.models_dir / "junk.distillgan").write_bytes(b"not a zip")
    (library.models_dir / ".half-written.distillgan.0123.tmp").write_bytes(b"PK")
    report = library.repair()
    assert report.indexed == ("by-hand", "kept")
    assert (
        list(report.skipped) == ["junk.distillgan"]
        and "not a distill model file" in report.skipped["junk.distillgan"]
    )
    assert [e.name for e in library.list()] == ["by-hand", "kept"]


def test_default_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "custom"))
    assert default_library_root() == tmp_path / "custom"
    monkeypatch.delenv("DISTILL_HOME")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_library_root() == tmp_path / "home" / ".local" / "share" / "distill"


def test_a_fresh_index_waits_for_another_writer_before_switching_to_wal(library: ModelLibrary) -> None:
    # Another process is mid-write on an index still in rollback mode (as on a library's first use
    # by several processes at once). SQLite refuses the switch to WAL at once rather than wait, so
    # the library must retry it, not fail with "database is locked".
    library.root.mkdir(parents=True)
    writer = sqlite3.connect(library.index_path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.3, writer.execute, ("COMMIT",))
    release.start()
    try:
        assert library.list() == []
    finally:
        release.join()
        writer.close()
    with sqlite3.connect(library.index_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


ADDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from distill.bundle.catalog import ModelLibrary

    root, source, name, go = sys.argv[1:]
    while not Path(go).exists():  # start together, so the adds really overlap
        time.sleep(0.005)
    ModelLibrary(root=root).add(source, name=name)
    """
)


def test_concurrent_adders_lose_nothing(tmp_path: Path, library: ModelLibrary) -> None:
    count = 8
    sources = [model_file(tmp_path / "out", f"m{i}") for i in range(count)]
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, str(library.root), str(src), f"m{i}", str(go)],
            stderr=subprocess.PIPE,
        )
        for i, src in enumerate(sources)
    ]
    go.touch()
    for child in children:
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr.decode()
    assert [e.name for e in library.list()] == [f"m{i}" for i in range(count)]
    assert visible_files(library) == [f"m{i}.distillgan" for i in range(count)]
    for entry in library.list():
        assert read_manifest(entry.path).metadata["name"] == entry.name
    with sqlite3.connect(library.index_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
