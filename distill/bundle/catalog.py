"""The model library: a folder of ``.distillgan`` files and a SQLite index of their manifests.

Folder (``default_library_root``): ``$DISTILL_HOME``, else ``$XDG_DATA_HOME/distill``, else
``~/.local/share/distill``. Inside it:

``models/<name>.distillgan``
    the models; they are the source of truth, so a model's name is its file name
``catalog.sqlite``
    an index of their manifests; ``repair()`` rebuilds it from the files, and it is rebuilt on its
    own when it is missing (or was written by another schema version)

The metadata keys the index is built from are listed in ``distill.bundle.entry``.

Concurrency: every change runs in one ``BEGIN IMMEDIATE`` transaction (WAL journal, busy timeout),
so processes adding at once queue on the write lock. A new file is first copied, fsynced, to a
hidden staging name without the lock; the lock is taken only to check the name, rename the file
into place and insert its row. A crash at any point leaves either no file, or a file without a row
(which ``repair()`` indexes), never a row whose file is half-written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from distill.bundle.entry import ModelEntry, entry_from_manifest, metadata_tags
from distill.bundle.errors import (
    AmbiguousModelError,
    InvalidModelNameError,
    LibraryError,
    ModelExistsError,
    ModelFileError,
    ModelNotFoundError,
)
from distill.bundle.format import (
    MODEL_SUFFIX,
    Manifest,
    copy_model_file,
    fsync_directory,
    read_manifest,
    verify_model_file,
)

# 2: vocoder_mstft (the bundled vocoder's held-out M-STFT). A changed version re-indexes the files.
_SCHEMA_VERSION = 2
# Writers hold the lock for a rename and a few rows (a retag rewrites one file), so a minute is
# ample even with many processes queueing.
_BUSY_TIMEOUT_S = 60.0
_MAX_NAME_LENGTH = 128
_MIN_ID_PREFIX = 6  # shorter prefixes of a uuid4 hex collide too easily to be worth resolving
# Path separators and the characters Windows refuses in file names.
_FORBIDDEN_NAME_CHARS = frozenset('/\\:<>"|?*')
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
_COLUMNS = (
    "name, id, created, tier, file_count, duration_s, components, "
    "vocoder_type, vocoder_steps, vocoder_mstft, min_codebook_utilization, tags"
)
_INSERT = f"INSERT INTO models ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(',')))})"
_SCHEMA = """
CREATE TABLE models (
    name TEXT PRIMARY KEY COLLATE NOCASE,  -- NOCASE: names must also be unique on macOS/Windows disks
    id TEXT NOT NULL UNIQUE,
    created TEXT,
    tier TEXT,
    file_count INTEGER,
    duration_s REAL,
    components TEXT NOT NULL,              -- JSON list
    vocoder_type TEXT,
    vocoder_steps INTEGER,
    vocoder_mstft REAL,
    min_codebook_utilization REAL,
    tags TEXT NOT NULL                     -- JSON list
)
"""


def default_library_root() -> Path:
    if home := os.environ.get("DISTILL_HOME"):
        return Path(home).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "distill"


@dataclasses.dataclass(frozen=True)
class RepairReport:
    indexed: tuple[str, ...]  # model names now in the index
    skipped: dict[str, str]  # file name -> the sentence saying why it is not indexed


class ModelLibrary:
    """The user's models: ``add``, ``list``, ``get``/``resolve`` by name or id, ``delete``, tags, ``repair``."""

    def __init__(self, *, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.models_dir = self.root / "models"
        self.index_path = self.root / "catalog.sqlite"

    def path_for(self, name: str) -> Path:
        self._check_name(name)
        return self.models_dir / f"{name}{MODEL_SUFFIX}"

    def add(self, source: str | Path, *, name: str | None = None, tags: Iterable[str] = ()) -> ModelEntry:
        """Verify ``source`` and register a copy as ``name`` (default: its metadata ``name``).

        The copy carries the library name and the union of its own and the given tags.
        """
        source = Path(source)
        manifest = verify_model_file(source)
        if name is None:
            name = manifest.metadata.get("name")
            if name is None:
                raise InvalidModelNameError(
                    self.root, name, f"none was given and {source} has no metadata name"
                )
        path = self.path_for(name)
        merged = sorted(set(metadata_tags(source, manifest.metadata)) | set(self._check_tags(tags)))
        metadata = {**manifest.metadata, "name": name, "tags": merged}
        stamped = Manifest(manifest.format_version, manifest.components, manifest.sha256, metadata)
        entry = dataclasses.replace(entry_from_manifest(source, name, stamped), path=path)
        staging = self.models_dir / f".{name}.{secrets.token_hex(8)}.adding"
        placed = False
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            copy_model_file(source, staging, metadata=metadata)
            with self._write_transaction() as con:
                self._check_free(con, entry)
                os.replace(staging, path)
                placed = True
                con.execute(_INSERT, _row(entry))
                fsync_directory(self.models_dir)
        except BaseException:
            if placed:  # the row did not commit: take the file back out, as if nothing happened
                path.unlink(missing_ok=True)
            raise
        finally:
            staging.unlink(missing_ok=True)
        return entry

    def list(self) -> list[ModelEntry]:
        with closing(self._connect()) as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM models ORDER BY name").fetchall()
        return [self._from_row(row) for row in rows]

    def get(self, name_or_id: str) -> ModelEntry:
        """The entry named ``name_or_id`` (any case), else with that id or a unique id prefix."""
        with closing(self._connect()) as con:
            select = f"SELECT {_COLUMNS} FROM models WHERE"
            rows = con.execute(f"{select} name = ?", (name_or_id,)).fetchall()
            rows = rows or con.execute(f"{select} id = ?", (name_or_id,)).fetchall()
            if not rows and len(name_or_id) >= _MIN_ID_PREFIX:
                rows = con.execute(f"{select} substr(id, 1, ?) = ?", (len(name_or_id), name_or_id)).fetchall()
        if not rows:
            raise ModelNotFoundError(self.root, name_or_id, "no name or id matches it")
        if len(rows) > 1:
            raise AmbiguousModelError(self.root, name_or_id, len(rows))
        return self._from_row(rows[0])

    def resolve(self, name_or_id: str) -> Path:
        """Path of the model file named ``name_or_id`` or with that id (or unique id prefix)."""
        entry = self.get(name_or_id)
        if not entry.path.is_file():
            raise ModelNotFoundError(
                self.root, name_or_id, f"its file {entry.path} is gone; run repair to update the index"
            )
        return entry.path

    def delete(self, name: str) -> None:
        self._check_name(name)
        with self._write_transaction() as con:
            row = con.execute("SELECT name FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ModelNotFoundError(self.root, name, "no model has that name")
            con.execute("DELETE FROM models WHERE name = ?", (name,))
            # Unlinked before COMMIT: a crash in between leaves a row without a file, which resolve
            # reports and repair drops, rather than a file silently dropped from the index.
            self.path_for(row[0]).unlink(missing_ok=True)
            fsync_directory(self.models_dir)

    def tag(self, name: str, tags: Iterable[str]) -> ModelEntry:
        """Add ``tags`` to a model (its file and its row)."""
        new = set(self._check_tags(tags))
        return self._retag(name, lambda current: current | new)

    def untag(self, name: str, tags: Iterable[str]) -> ModelEntry:
        gone = set(self._check_tags(tags))
        return self._retag(name, lambda current: current - gone)

    def repair(self) -> RepairReport:
        """Rebuild the index from the files in ``models/``; a damaged index file is replaced."""
        try:
            return self._reindex()
        except sqlite3.DatabaseError as error:
            if error.sqlite_errorcode not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise
        # The index holds nothing the files do not, so a damaged one is simply started afresh.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)
        return self._reindex()

    # --- internals --------------------------------------------------------------------------------

    def _reindex(self) -> RepairReport:
        with self._write_transaction() as con:
            con.execute("DELETE FROM models")
            return self._index_files(con)

    def _retag(self, name: str, change: Callable[[set[str]], set[str]]) -> ModelEntry:
        self._check_name(name)
        with self._write_transaction() as con:
            row = con.execute("SELECT name FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ModelNotFoundError(self.root, name, "no model has that name")
            path = self.path_for(row[0])
            manifest = read_manifest(path)
            tags = sorted(change(set(metadata_tags(path, manifest.metadata))))
            written = copy_model_file(path, path, metadata={**manifest.metadata, "tags": tags})
            con.execute("UPDATE models SET tags = ? WHERE name = ?", (json.dumps(tags), row[0]))
        return entry_from_manifest(path, row[0], written)

    def _index_files(self, con: sqlite3.Connection) -> RepairReport:
        indexed: list[str] = []
        skipped: dict[str, str] = {}
        if not self.models_dir.is_dir():
            return RepairReport((), {})
        for path in sorted(self.models_dir.glob(f"*{MODEL_SUFFIX}")):
            if path.name.startswith(".") or not path.is_file():
                continue  # staging and temp files of writers in flight
            name = path.name[: -len(MODEL_SUFFIX)]
            try:
                self._check_name(name)
                entry = entry_from_manifest(path, name, read_manifest(path))
            except (InvalidModelNameError, ModelFileError) as error:
                skipped[path.name] = str(error)
                continue
            try:
                con.execute(_INSERT, _row(entry))
            except sqlite3.IntegrityError:
                skipped[path.name] = (
                    f"{path}: another file already has its name (in another case) or id {entry.id}."
                )
                continue
            indexed.append(name)
        return RepairReport(tuple(indexed), skipped)

    def _check_free(self, con: sqlite3.Connection, entry: ModelEntry) -> None:
        row = con.execute("SELECT name FROM models WHERE name = ?", (entry.name,)).fetchone()
        if row is not None:
            raise ModelExistsError(self.root, entry.name, f"the model {row[0]!r} already has that name")
        row = con.execute("SELECT name FROM models WHERE id = ?", (entry.id,)).fetchone()
        if row is not None:
            raise ModelExistsError(
                self.root, entry.name, f"it is already there as {row[0]!r} (id {entry.id})"
            )
        if entry.path.exists():
            raise ModelExistsError(
                self.root, entry.name, f"{entry.path} exists but is not indexed; run repair to index it"
            )

    def _check_name(self, name: object) -> None:
        if (problem := _name_problem(name)) is not None:
            raise InvalidModelNameError(self.root, name, problem)

    def _check_tags(self, tags: Iterable[str]) -> list[str]:
        if isinstance(tags, str):
            tags = [tags]  # one tag, not its characters
        checked = list(tags)
        for tag in checked:
            if not isinstance(tag, str) or not tag or tag != tag.strip() or not tag.isprintable():
                raise LibraryError(
                    self.root,
                    f"{tag!r} cannot be a tag: tags are non-empty printable text without outer spaces.",
                )
        return checked

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun explicitly, as BEGIN IMMEDIATE.
        con = sqlite3.connect(self.index_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA journal_mode=WAL")
            # The files are the source of truth, so WAL's NORMAL durability is enough for the index.
            con.execute("PRAGMA synchronous=NORMAL")
            if _user_version(con) != _SCHEMA_VERSION:
                with _transaction(con):
                    if _user_version(con) != _SCHEMA_VERSION:  # another process may have won the race
                        con.execute("DROP TABLE IF EXISTS models")
                        con.execute(_SCHEMA)
                        self._index_files(con)
                        con.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _write_transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as con, _transaction(con):
            yield con

    def _from_row(self, row: sqlite3.Row) -> ModelEntry:
        created = row["created"]
        return ModelEntry(
            name=row["name"],
            id=row["id"],
            path=self.models_dir / f"{row['name']}{MODEL_SUFFIX}",
            created=datetime.fromisoformat(created) if created is not None else None,
            tier=row["tier"],
            file_count=row["file_count"],
            duration_s=row["duration_s"],
            components=tuple(json.loads(row["components"])),
            vocoder_type=row["vocoder_type"],
            vocoder_steps=row["vocoder_steps"],
            vocoder_mstft=row["vocoder_mstft"],
            min_codebook_utilization=row["min_codebook_utilization"],
            tags=tuple(json.loads(row["tags"])),
        )


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so two writers never
    # both read "name is free" and then collide at COMMIT.
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if con.in_transaction:  # SQLite may already have rolled back (e.g. on a full disk)
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a model (and file) name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a name must be non-empty text"
    if name.startswith("."):
        return "it starts with a dot"
    if forbidden := sorted(set(name) & _FORBIDDEN_NAME_CHARS):
        return f"it contains {forbidden[0]!r}, a path separator or a character Windows forbids"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "it contains a control character"
    if name != name.strip() or name.endswith("."):
        return "it starts or ends with a space, or ends with a dot"
    if len(name) > _MAX_NAME_LENGTH:
        return f"it is longer than {_MAX_NAME_LENGTH} characters"
    if name.split(".")[0].upper() in _WINDOWS_DEVICE_NAMES:
        return "it is a device name on Windows"
    return None


def _user_version(con: sqlite3.Connection) -> int:
    return con.execute("PRAGMA user_version").fetchone()[0]


def _row(entry: ModelEntry) -> tuple[Any, ...]:
    return (
        entry.name,
        entry.id,
        entry.created.isoformat() if entry.created is not None else None,
        entry.tier,
        entry.file_count,
        entry.duration_s,
        json.dumps(list(entry.components)),
        entry.vocoder_type,
        entry.vocoder_steps,
        entry.vocoder_mstft,
        entry.min_codebook_utilization,
        json.dumps(list(entry.tags)),
    )
