"""What a batch of sounds will cost, said before it starts: audio length, disk space, and time.

The disk space is known before anything is generated (lengths are resolved from the model, sizes
from the export settings, ``distill.generation.export.expected_file_bytes``), so a batch that
cannot fit is refused with nothing written. The time comes from measured throughput: the first
sound's wall-clock time, which says more about this machine and model than any table could.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from distill.errors import UserError
from distill.files import nearest_existing

# A request is large enough to be told its cost when it asks for more audio than this, or this
# many files: beyond what a user checks by eye, and where a typo (an extra zero) costs hours.
LARGE_AUDIO_S = 600.0
LARGE_COUNT = 100
# Room kept free beyond the estimate: a disk filled to the last byte breaks other programs.
_SPARE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class BatchCost:
    count: int
    audio_s: float  # the most audio the batch makes (one-shot sounds may end sooner)
    bytes: int  # about how much disk its files and sidecars take
    folder: Path  # where they go
    free_bytes: int | None  # free space there (None: unknown)

    @property
    def large(self) -> bool:
        return self.audio_s > LARGE_AUDIO_S or self.count >= LARGE_COUNT

    def describe(self) -> str:
        free = "" if self.free_bytes is None else f"; {format_bytes(self.free_bytes)} free there"
        return (
            f"{self.count} sound{'s' if self.count != 1 else ''}, up to {format_duration(self.audio_s)} of"
            f" audio, about {format_bytes(self.bytes)} in {self.folder}{free}."
        )

    def require_room(self) -> None:
        """A UserError when the batch would not fit on its disk (nothing is generated then)."""
        if self.free_bytes is None or self.bytes + _SPARE_BYTES <= self.free_bytes:
            return
        raise UserError(
            f"{self.count} sounds of up to {format_duration(self.audio_s / self.count)} need about"
            f" {format_bytes(self.bytes)} in {self.folder}, which has {format_bytes(self.free_bytes)}"
            " free; ask for fewer (--count) or shorter (--duration) sounds, a compressed --format"
            " (flac, ogg), or write elsewhere (-o)."
        )

    def time_left(self, first_sound_s: float) -> str:
        """What the rest will take at the first sound's pace, as a sentence."""
        rest = first_sound_s * (self.count - 1)
        return (
            f"The first sound took {format_duration(first_sound_s)}: about {format_duration(rest)} more"
            f" for the other {self.count - 1} at that pace. Ctrl-C stops after the sound in progress;"
            " every file written stays whole, with its sidecar."
        )


def batch_cost(count: int, duration_s: float, bytes_per_sound: int, folder: Path) -> BatchCost:
    return BatchCost(
        count=count,
        audio_s=count * duration_s,
        bytes=count * bytes_per_sound,
        folder=folder,
        free_bytes=_free_bytes(folder),
    )


def _free_bytes(folder: Path) -> int | None:
    """Free space on the disk ``folder`` is (or will be made) on: its nearest existing parent's."""
    try:
        return shutil.disk_usage(nearest_existing(folder)).free
    except OSError:
        return None


def format_bytes(count: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{hours / 24:.0f} days"
