"""Writing files so that a crash, a kill or a full disk never leaves half of one under its name.

Every file distill writes (model files, checkpoints, run summaries, exported audio, code grids,
plots, caches) goes through ``atomic_write``: a temp file in the same folder, fsync, rename over
the final name, fsync of the folder. The temp file is hidden and carries the writer's pid, so
``remove_abandoned_temps`` can tell the leftovers of a killed process from a write in progress;
a staging folder named with ``temp_path_for`` (a cache entry being filled) is told apart the same way.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from distill.errors import UserError

if TYPE_CHECKING:
    import numpy as np

# Errors that mean "no room": no space left, over the file-size limit, over the quota.
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{16}\.tmp$")


# What to do about a file-system failure, by errno: (what happened, what to do).
_ADVICE = {
    errno.EACCES: ("permission denied", "check its and its folders' permissions, or choose another place"),
    errno.EPERM: (
        "operation not permitted",
        "check its and its folders' permissions, or choose another place",
    ),
    errno.EROFS: ("the file system is read-only", "choose a place on a writable disk"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "give a path whose folders are folders"),
    errno.EISDIR: ("it is a folder", "give a file name"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "use a shorter name"),
    errno.ENOENT: ("it does not exist (or vanished while distill used it)", "check the path"),
    errno.ELOOP: ("too many symbolic links", "check the links on the path"),
    errno.EEXIST: ("something of that name is in the way", "use another name or remove it"),
}


def os_error_reason(error: OSError) -> str:
    """What happened, in a few words ("permission denied", "it is a folder")."""
    if error.errno in _ADVICE:
        return _ADVICE[error.errno][0]
    return (os.strerror(error.errno) if error.errno else str(error)).lower()


class FileSystemError(UserError):
    """A file could not be read or written: one sentence naming the path, what happened and what to
    do. ``action`` is the verb ("write", "read", "use")."""

    def __init__(self, path: Path, error: OSError, *, action: str = "use") -> None:
        self.path = path
        self.error = error  # kept so a caller can name the file the user knows instead of a temp
        self.action = action
        super().__init__(self._describe())

    def _describe(self) -> str:
        advice = _ADVICE.get(self.error.errno, (None, "check the path and try again"))[1]
        return f"Cannot {self.action} {self.path}: {os_error_reason(self.error)}. Nothing was changed there; {advice}."

    def at(self, path: Path) -> FileSystemError:
        """The same failure told under ``path``, the name the user knows (not a temp or staging name)."""
        return type(self)(path, self.error, action=self.action)


class DiskFullError(FileSystemError):
    """A write ran out of room; nothing was left under the final name."""

    def __init__(self, path: Path, error: OSError, *, action: str = "write") -> None:
        super().__init__(path, error, action=action)

    def _describe(self) -> str:
        return (
            f"Cannot write {self.path}: {os.strerror(self.error.errno or errno.ENOSPC).lower()} "
            "(disk full or file-size limit). Nothing was written; free some space and run it again."
        )


def file_system_error(error: OSError, *, action: str = "use") -> FileSystemError | None:
    """``error`` told as one sentence, when it names a file (an OSError from the file system);
    None for one that does not (a socket's, say): that is not the user's to fix."""
    if error.filename is None:
        return None
    if error.errno in _NO_ROOM:
        return DiskFullError(Path(os.fsdecode(error.filename)), error)
    return FileSystemError(Path(os.fsdecode(error.filename)), error, action=action)


def _no_room(error: BaseException | None) -> OSError | None:
    """The "no room" OSError behind ``error``, if any. Writers that call ``write`` from C (torch.save)
    raise their own error while handling it, so the OSError is in the chain, not on top."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in _NO_ROOM:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def make_folders(folder: Path) -> None:
    """``mkdir -p``; a file where one of the folders should be is ENOTDIR (as the kernel says when
    opening through it), not EEXIST, so its sentence says what is wrong."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), error.filename) from None


def nearest_existing(path: Path) -> Path:
    """``path``, or the nearest of its parents that exists (where missing folders would be made)."""
    place = path.expanduser().absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    return place


def temp_path_for(path: Path) -> Path:
    """The hidden temp name ``atomic_write`` uses for ``path`` (never ends in the real suffix)."""
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(8)}.tmp"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` with ``write(handle)``: temp file, fsync, rename over ``path``, fsync the folder.

    A disk that fills up (or a file-size limit) raises ``DiskFullError`` with the temp file removed
    and any earlier ``path`` untouched; a place that cannot be written (permissions, a read-only
    disk, a folder in the way, a name too long) raises ``FileSystemError`` before anything is written.
    """
    path = Path(path)
    folder = path.parent
    temp = temp_path_for(path)
    try:
        if path.is_dir():  # checked first: the rename would fail only after the whole write
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        make_folders(folder)  # missing folders on the way are made (`-o new/folder/x.wav` works)
        # os.open rather than tempfile: mode 0o666 lets the umask decide permissions, as for any new file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise FileSystemError(path, error, action="write") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if (no_room := _no_room(error)) is not None:
            raise DiskFullError(path, no_room) from None
        if isinstance(error, OSError) and error.filename in (str(temp), str(path)):
            raise FileSystemError(path, error, action="write") from None  # e.g. the rename refused
        raise
    fsync_directory(folder)
    return path


class OutputBusyError(UserError):
    """Another live process holds ``output_lock`` on the same output name."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            f"Cannot write {path}: another distill{holder} is writing it right now. Wait for it to"
            " finish, or choose another output name."
        )
        self.path = path


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold the sole right to write ``path`` (and the numbered names made from it) while inside.

    A second process asking for the same name gets ``OutputBusyError`` at once, rather than the two
    writing their files in turn under the same names. The lock is an advisory ``flock`` on a hidden
    ``.<name>.lock`` beside the output: the kernel drops it when its holder dies, and the holder
    removes the file when done. Where ``flock`` is missing (Windows), nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    try:
        make_folders(path.parent)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise OutputBusyError(path, f" (pid {holder})" if holder.isdigit() else "") from None
            try:  # a holder that finished removed the file we opened: lock the new one instead
                if os.path.samestat(os.fstat(fd), os.stat(lock)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError as error:
        raise FileSystemError(path, error, action="write") from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a waiter then finds it gone and retries
        os.close(fd)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C inside waits for the block to finish (a file and its sidecar are written as a pair),
    then interrupts as usual. Only the main thread receives signals; elsewhere this does nothing, as
    it does where SIGINT is ignored (a command started in the background by a script, or by nohup)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        # None: the handler was set outside Python (an embedding program's): Python's default then.
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def check_writable(path: str | Path) -> None:
    """Raise the ``FileSystemError`` that ``atomic_write(path)`` would, without writing: for a check
    before a long computation whose result goes to ``path``. It writes a temp file in the folder and
    renames it over ``path``, so the folder (or the nearest one that exists, where the missing ones
    would be made) must be writable, and ``path`` must not be a folder."""
    path = Path(path).expanduser()
    place = nearest_existing(path.parent)
    if path.is_dir():
        error: OSError = IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    elif not place.is_dir():
        error = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(place))
    elif not os.access(place, os.W_OK | os.X_OK):
        error = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(place))
    else:
        return
    raise FileSystemError(path, error, action="write")


def file_exists(path: str | Path) -> bool:
    """Whether there is a file at ``path`` to read: False where it (or a folder on the way) is
    missing. A folder there, a file where a folder should be, a folder on the way it may not enter
    or a name too long is the ``FileSystemError`` naming ``path``: ``Path.is_file`` raises the bare
    OSError for some of these and calls a folder a missing file."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as error:
        raise FileSystemError(path, error, action="read") from None
    if stat.S_ISDIR(mode):
        raise FileSystemError(
            path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)), action="read"
        )
    return True


def write_text_atomic(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data))


class _PlainWriter:
    """Only ``write``: numpy writes a real file with C fwrite, whose failure carries no errno (a full
    disk would pass for another error); to anything else it writes in chunks through ``write``."""

    def __init__(self, handle: BinaryIO) -> None:
        self.write = handle.write


def write_npy_atomic(path: str | Path, array: np.ndarray) -> Path:
    """``np.save`` (never pickling) through ``atomic_write``."""
    import numpy as np

    return atomic_write(path, lambda handle: np.save(_PlainWriter(handle), array, allow_pickle=False))


def wav_bytes(samples: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> bytes:
    """A WAV file's bytes (``subtype`` None: soundfile's default, 16-bit PCM). A sound that peaks
    above full scale is turned down by one gain, not clipped: a clipped peak is a broadband click."""
    import numpy as np
    import soundfile as sf

    samples = np.asarray(samples, np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 1.0:
        samples = samples / peak
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def write_wav_atomic(
    path: str | Path, samples: np.ndarray, sample_rate: int, *, subtype: str | None = None
) -> Path:
    """A WAV file (``wav_bytes``) through ``atomic_write``.

    Encoded in memory first: soundfile writes a file object through C callbacks that print a failed
    write and carry on, so a full disk would show as a garbled error after pages of noise.
    """
    return write_bytes_atomic(path, wav_bytes(samples, sample_rate, subtype=subtype))


def fsync_directory(folder: Path) -> None:
    """Make renames and unlinks in ``folder`` durable (a no-op on Windows, which cannot open folders)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:  # no process has such a pid, so no writer of ours made that name: leave it
        return True
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_abandoned_temps(folder: Path, *, min_age_s: float = 0.0) -> list[Path]:
    """Delete temp files (and staging folders) in ``folder`` left by writers that no longer run.

    ``min_age_s``: also require that long since the leftover last changed, for folders that
    processes on other machines write too (their pids mean nothing here).
    """
    removed = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match or pid_alive(int(match["pid"])):
            continue
        try:
            if min_age_s and now - entry.lstat().st_mtime < min_age_s:
                continue
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        if entry.is_dir() and not entry.is_symlink():
            # ignore_errors: another cleaner may be removing the same leftover at the same time.
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
