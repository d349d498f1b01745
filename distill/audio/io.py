"""Reading sound files: any format libsndfile reads, mixed to mono, resampled to 44.1 kHz float32.

Every problem with a file becomes an ``UnusableAudioError`` carrying one short reason, so the
folder scan can skip the file with a one-line warning instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.files import os_error_reason

# Extensions treated as audio; everything else in a folder is ignored without a warning.
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".w64",
        ".rf64",
        ".caf",
        ".au",
    }
)

# Below -100 dBFS peak a file holds no usable sound (dither or digital silence).
SILENCE_PEAK = 1e-5


class UnusableAudioError(Exception):
    """A file that cannot be used as training audio; ``reason`` is one short phrase."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(kw_only=True)
class LoadedAudio:
    samples: np.ndarray  # [T] float32 mono at sample_rate
    sample_rate: int
    source_rate: int
    source_channels: int
    source_subtype: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def is_audio_path(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (high quality); a no-op at equal rates."""
    if source_rate == target_rate:
        return samples
    import soxr

    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: Path | str, *, sample_rate: int) -> LoadedAudio:
    """Decode ``path``, mix to mono, resample to ``sample_rate``; raise UnusableAudioError if unusable."""
    import soundfile as sf

    path = Path(path)
    try:  # a file we may not read, or one removed since the folder was listed, is skipped, said why
        if path.stat().st_size == 0:
            raise UnusableAudioError(path, "empty file (0 bytes)")
        _check_riff_size(path)
    except OSError as error:
        raise UnusableAudioError(path, f"cannot be read: {os_error_reason(error)}") from error
    try:
        info = sf.info(str(path))
        data, source_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as error:
        raise UnusableAudioError(path, f"not readable as audio ({_first_line(error)})") from error
    if data.shape[0] == 0:
        raise UnusableAudioError(path, "empty (0 samples)")
    if info.frames > 0 and data.shape[0] < info.frames:
        raise UnusableAudioError(
            path, f"truncated (header says {info.frames} samples, found {data.shape[0]})"
        )
    if not np.isfinite(data).all():
        raise UnusableAudioError(path, "contains NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if np.abs(mono).max() < SILENCE_PEAK:
        raise UnusableAudioError(path, "silent (peak below -100 dBFS)")
    return LoadedAudio(
        samples=np.ascontiguousarray(resample(mono, source_rate, sample_rate), dtype=np.float32),
        sample_rate=sample_rate,
        source_rate=int(source_rate),
        source_channels=int(data.shape[1]),
        source_subtype=str(info.subtype),
    )


def _check_riff_size(path: Path) -> None:
    """A WAV whose RIFF header promises more bytes than the file holds was cut off mid-copy.

    libsndfile silently reads what is there, which would train on a clipped recording, so
    the header is checked here (RF64/W64 store sizes elsewhere and are left to libsndfile).
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
        return
    order = "little" if header[:4] == b"RIFF" else "big"
    declared = int.from_bytes(header[4:8], order) + 8
    actual = path.stat().st_size
    if actual < declared:
        raise UnusableAudioError(path, f"truncated (header declares {declared} bytes, file has {actual})")


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:120]
