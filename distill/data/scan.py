"""Folder scan: which recordings are usable, which are skipped and why, how much audio there is."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from distill.audio.io import UnusableAudioError, is_audio_path
from distill.data.store import FileStore, PreparedFile
from distill.errors import UserError

log = logging.getLogger(__name__)


class DataFolderError(UserError):
    """The data folder cannot be used at all; the message is one sentence for the user."""


@dataclass(kw_only=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(kw_only=True)
class ScanReport:
    root: Path
    sample_rate: int
    usable: list[PreparedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: int = 0  # files without an audio extension (and hidden files)

    @property
    def found(self) -> int:
        return len(self.usable) + len(self.skipped)

    @property
    def total_duration_s(self) -> float:
        return sum(item.duration_s(self.sample_rate) for item in self.usable)

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def require_usable(self) -> None:
        if not self.usable and self.found == 0:
            raise DataFolderError(
                f"No audio files in {self.root} ({self.ignored} other file(s) ignored);"
                " point it at a folder of wav/flac/ogg/mp3/aiff recordings."
            )
        if not self.usable:
            raise DataFolderError(
                f"No usable audio in {self.root}: {self.found} audio file(s) found, all skipped"
                " (reasons above); point it at a folder of readable, non-silent recordings."
            )


def audio_files(root: Path) -> tuple[list[Path], int]:
    """Audio files under ``root`` (recursive, sorted, hidden entries skipped) and the ignored count."""
    found: list[Path] = []
    ignored = 0
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or not is_audio_path(path):
                ignored += 1
            else:
                found.append(path)
    return found, ignored


def scan_folder(
    root: Path | str,
    *,
    store: FileStore,
    on_file: Callable[[Path], None] | None = None,
) -> ScanReport:
    """Prepare every audio file under ``root`` through ``store``; unusable ones are skipped with a warning."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataFolderError(f"Data folder {root} does not exist; check the path.")
    if not root.is_dir():
        raise DataFolderError(
            f"Data path {root} is a file, not a folder; give the folder that holds your recordings."
        )
    paths, ignored = audio_files(root)
    report = ScanReport(root=root, sample_rate=store.mel_config.sample_rate, ignored=ignored)
    for path in paths:
        if on_file is not None:
            on_file(path)
        try:
            report.usable.append(store.prepare(path))
        except UnusableAudioError as error:
            log.warning("Skipping %s: %s", report.relative(path), error.reason)
            report.skipped.append(SkippedFile(path=path, reason=error.reason))
    return report
