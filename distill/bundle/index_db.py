"""The model library's SQLite index: opening it, its transactions, and its failures as sentences.

The index only mirrors the model files (``distill.bundle.catalog``), so every failure of it has a
way out that loses nothing: another user's or a read-only library means using one's own, a lock
held too long means waiting, and a damaged index is rebuilt from the files by ``repair``.
"""

from __future__ import annotations

import errno
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distill.bundle.errors import LibraryError
from distill.files import DiskFullError

# Writers hold the lock for a rename and a few rows (a retag rewrites one file), so a minute is
# ample even with many processes queueing.
BUSY_TIMEOUT_S = 60.0
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class DamagedIndexError(LibraryError):
    """The index file is not a database or is corrupt: ``repair`` starts it afresh from the files."""

    def __init__(self, index_path: Path, error: sqlite3.DatabaseError) -> None:
        root = index_path.parent
        super().__init__(
            root,
            f"The model library index {index_path} is damaged ({error}). Your models are the files in"
            f" {root / 'models'} and are untouched: run `distill models repair --library {root}` to"
            " rebuild the index from them.",
        )


def connect(index_path: Path) -> sqlite3.Connection:
    """An autocommit connection in WAL mode (transactions are begun explicitly, as ``transaction``)."""
    con = sqlite3.connect(index_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    con.row_factory = sqlite3.Row
    try:
        _use_wal(con, BUSY_TIMEOUT_S)
        # The files are the source of truth, so WAL's NORMAL durability is enough for the index.
        con.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        con.close()
        raise
    return con


def _use_wal(con: sqlite3.Connection, timeout_s: float) -> None:
    """Put the index in WAL mode, retrying while another process holds the lock it needs.

    The switch upgrades a shared lock to an exclusive one, and SQLite does not wait for that (two
    processes doing it would deadlock), so a fresh library opened by several processes at once got
    "database is locked" at once. WAL is persistent: once one process has switched, the others
    read "wal" and go on.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in _BUSY or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so two writers never
    # both read "name is free" and then collide at COMMIT.
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
        if con.in_transaction:  # the body may have committed itself
            con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:  # SQLite may already have rolled back (e.g. on a full disk)
            con.execute("ROLLBACK")
        raise


def user_version(con: sqlite3.Connection) -> int:
    return con.execute("PRAGMA user_version").fetchone()[0]


@contextmanager
def index_errors_are_user_errors(index_path: Path) -> Iterator[None]:
    """The index's failures as one sentence each, saying what to do: a full disk; an index the user
    may not write (a library another user owns, or on a read-only disk: even reading a WAL index
    needs its -shm file); a lock another process held past the busy timeout; a damaged file."""
    root = index_path.parent
    try:
        yield
    except sqlite3.DatabaseError as error:
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:
            raise
        if code == sqlite3.SQLITE_FULL:
            raise DiskFullError(index_path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None
        if code & 0xFF in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):  # any kind of either
            raise LibraryError(
                root,
                f"Cannot use the model library {root}: its index {index_path.name} cannot be"
                f" written by you ({error}). Use a library of your own (--library or $DISTILL_HOME), or"
                " ask its owner for write access to the folder.",
            ) from None
        if code & 0xFF in _BUSY:
            raise LibraryError(
                root,
                f"The model library {root} is busy: another process has held its index"
                f" {index_path.name} locked for over {BUSY_TIMEOUT_S:.0f} s. Try again when that distill"
                " has finished (a library on a network disk may not support SQLite's locks: use a local"
                " one with --library or $DISTILL_HOME).",
            ) from None
        if code & 0xFF in _DAMAGED:
            raise DamagedIndexError(index_path, error) from None
        raise
