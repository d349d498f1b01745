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
so writers queue on the write lock. A new file is first copied, fsynced, to a hidden pid-tagged
temp name (``distill.files``) without the lock; the lock is taken only to check the name, rename
the file into place and insert its row. A kill at any moment leaves whole files and at most a file
without a row or a row without a file; every change first settles those under the lock (where no
live writer sits between rename and commit): dead writers' temp files go, the file is indexed, the
row dropped. So the next change leaves the index as ``repair()`` would build it. The SQLite side
(connections, transactions, and each failure of the index as one sentence): ``index_db``.
"""

from __future__ import annotations

import dataclasses
import json
import os
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
    UnknownModelError,
)
from distill.bundle.format import (
    MODEL_SUFFIX,
    Manifest,
    copy_model_file,
    read_manifest,
    verify_model_file,
)
from distill.bundle.index_db import (
    DamagedIndexError,
    connect,
    index_errors_are_user_errors,
    transaction,
    user_version,
)
from distill.bundle.names import name_problem
from distill.files import (
    FileSystemError,
    fsync_directory,
    make_folders,
    remove_abandoned_temps,
    temp_path_for,
)

# 2: vocoder_mstft (the bundled vocoder's held-out M-STFT); 3: only on today's MSTFT_VERSION scale.
# A changed version re-indexes the files.
_SCHEMA_VERSION = 3
_MIN_ID_PREFIX = 6  # shorter prefixes of a uuid4 hex collide too easily to be worth resolving
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
        # Hidden, pid-tagged and not ending in .distillgan: never indexed, and removed by the next
        # change to the library if this process is killed before it is renamed into place.
        staging = temp_path_for(path)
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            try:
                copy_model_file(source, staging, metadata=metadata)
            except FileSystemError as error:
                raise error.at(path) from None  # the name the user asked for
            with self._write_transaction() as con:
                self._check_free(con, entry)
                os.replace(staging, path)
                try:
                    con.execute(_INSERT, _row(entry))
                    fsync_directory(self.models_dir)
                    # Committed here rather than on leaving the block: a failed commit takes the
                    # file back out while the lock still keeps other writers from settling it.
                    con.execute("COMMIT")
                except BaseException:
                    path.unlink(missing_ok=True)  # the row did not commit: as if nothing happened
                    raise
        finally:
            staging.unlink(missing_ok=True)
        return entry

    def list(self) -> list[ModelEntry]:
        with index_errors_are_user_errors(self.index_path), closing(self._connect()) as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM models ORDER BY name").fetchall()
        return [self._from_row(row) for row in rows]

    def get(self, name_or_id: str) -> ModelEntry:
        """The entry named ``name_or_id`` (any case), else with that id or a unique id prefix."""
        with index_errors_are_user_errors(self.index_path), closing(self._connect()) as con:
            select = f"SELECT {_COLUMNS} FROM models WHERE"
            rows = con.execute(f"{select} name = ?", (name_or_id,)).fetchall()
            rows = rows or con.execute(f"{select} id = ?", (name_or_id,)).fetchall()
            if not rows and len(name_or_id) >= _MIN_ID_PREFIX:
                rows = con.execute(f"{select} substr(id, 1, ?) = ?", (len(name_or_id), name_or_id)).fetchall()
            if not rows:
                raise UnknownModelError(self.root, name_or_id, _names(con))
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
                raise UnknownModelError(self.root, name, _names(con))
            con.execute("DELETE FROM models WHERE name = ?", (name,))
            # Unlinked before COMMIT: a crash in between leaves a row without a file, which the next
            # change drops, rather than a file silently dropped from the index.
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
        except DamagedIndexError:
            pass
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
                raise UnknownModelError(self.root, name, _names(con))
            path = self.path_for(row[0])
            manifest = read_manifest(path)
            tags = sorted(change(set(metadata_tags(path, manifest.metadata))))
            written = copy_model_file(path, path, metadata={**manifest.metadata, "tags": tags})
            con.execute("UPDATE models SET tags = ? WHERE name = ?", (json.dumps(tags), row[0]))
        return entry_from_manifest(path, row[0], written)

    def _index_files(self, con: sqlite3.Connection) -> RepairReport:
        indexed: list[str] = []
        skipped: dict[str, str] = {}
        for path in self._model_files():
            name = path.name[: -len(MODEL_SUFFIX)]
            if (problem := self._index_file(con, path, name)) is None:
                indexed.append(name)
            else:
                skipped[path.name] = problem
        return RepairReport(tuple(indexed), skipped)

    def _model_files(self) -> list[Path]:
        found = sorted(self.models_dir.glob(f"*{MODEL_SUFFIX}"))  # none when the folder is missing
        return [path for path in found if not path.name.startswith(".") and path.is_file()]  # hidden: temps

    def _index_file(self, con: sqlite3.Connection, path: Path, name: str) -> str | None:
        """Insert the row of the model file ``path``; the sentence saying why not, when it cannot."""
        try:
            self._check_name(name)
            entry = entry_from_manifest(path, name, read_manifest(path))
        except (InvalidModelNameError, ModelFileError) as error:
            return str(error)
        try:
            con.execute(_INSERT, _row(entry))
        except sqlite3.IntegrityError:
            return f"{path}: another file already has its name (in another case) or id {entry.id}."
        return None

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
        if (problem := name_problem(name)) is not None:
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
        try:
            make_folders(self.root)
        except OSError as error:  # a file on the way, a folder it may not enter, a name too long
            raise FileSystemError(self.root, error, action="use") from None
        con = connect(self.index_path)
        try:
            if user_version(con) != _SCHEMA_VERSION:
                with transaction(con):
                    if user_version(con) != _SCHEMA_VERSION:  # another process may have won the race
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
        with index_errors_are_user_errors(self.index_path), closing(self._connect()) as con:
            # Settled in a transaction of its own, so that it stands even when the change fails.
            with transaction(con):
                self._settle(con)
            with transaction(con):
                yield con

    def _settle(self, con: sqlite3.Connection) -> None:
        """Undo what killed writers left behind (see the module docstring); holds the write lock."""
        for folder in (self.root, self.models_dir):
            remove_abandoned_temps(folder)
        files = {path.name[: -len(MODEL_SUFFIX)]: path for path in self._model_files()}
        rows = {row[0] for row in con.execute("SELECT name FROM models")}
        for name in rows - files.keys():
            con.execute("DELETE FROM models WHERE name = ?", (name,))
        for name in sorted(files.keys() - rows):
            self._index_file(con, files[name], name)  # a file it cannot index, repair reports

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


def _names(con: sqlite3.Connection) -> list[str]:
    """Every model name in the index (for the sentence that says a name is unknown)."""
    return [row[0] for row in con.execute("SELECT name FROM models")]


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
