"""Where prepared audio and mels live: an on-disk cache, or (cache off) decoding on demand.

The cache is keyed by the file's content hash plus the mel config fingerprint and a pipeline
version, so renaming a file keeps its entry, editing it (or changing the mel) misses, and a
second epoch or run never decodes audio again. Entries are written to a hidden, pid-tagged staging
folder (``distill.files``) and renamed into place, so an interrupted preparation never leaves a half
entry behind, and two trainings preparing the same folder at once end with one entry per file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from distill.audio.io import LoadedAudio, UnusableAudioError, load_audio
from distill.audio.mel import MelConfig, log_mel
from distill.files import (
    FileSystemError,
    fsync_directory,
    os_error_reason,
    remove_abandoned_temps,
    temp_path_for,
    write_npy_atomic,
    write_text_atomic,
)

# Bump when preparation (decoding, resampling, padding, mel) changes meaning: old entries miss.
PIPELINE_VERSION = 1
# A staging folder is removed as abandoned only once its writer is gone AND it is this old: a cache
# shared by several machines (a sweep on a cluster) holds staging folders of pids this machine
# cannot see, and a leftover costs only disk space until then.
_ABANDONED_AFTER_S = 3600.0


@dataclass(kw_only=True)
class PreparedFile:
    """A usable recording, decoded once: audio padded to whole mel frames."""

    path: Path
    content_hash: str
    n_samples: int  # 44.1 kHz mono samples before padding
    n_frames: int  # mel frames; the stored audio holds n_frames * hop samples
    source_rate: int
    source_channels: int

    def duration_s(self, sample_rate: int) -> float:
        return self.n_samples / sample_rate


def content_hash(path: Path) -> str:
    """The recording's identity in the cache; one it may not read (permissions, or gone since it was
    listed) is unusable with the reason, as when decoding it fails."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise UnusableAudioError(path, f"cannot be read: {os_error_reason(error)}") from error
    return digest.hexdigest()


def decode_for_training(path: Path, mel_config: MelConfig) -> tuple[LoadedAudio, np.ndarray, np.ndarray]:
    """Decode a file and return (info, audio padded to whole frames [n*hop], mel [n_mels, n])."""
    loaded = load_audio(path, sample_rate=mel_config.sample_rate)
    hop = mel_config.hop_length
    n_frames = max(1, -(-len(loaded.samples) // hop))
    audio = np.zeros(n_frames * hop, dtype=np.float32)
    audio[: len(loaded.samples)] = loaded.samples
    mel = log_mel(torch.from_numpy(audio), mel_config).numpy()
    return loaded, audio, mel


class MelCache:
    """Prepared audio + mel per file on disk; also remembers why unusable files were skipped."""

    def __init__(self, *, root: Path | str, mel_config: MelConfig) -> None:
        self.mel_config = mel_config
        self.root = Path(root).expanduser() / f"v{PIPELINE_VERSION}-{mel_config.fingerprint()}"

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def prepare(self, path: Path) -> PreparedFile:
        """Return the cached entry for ``path``, decoding and storing it on a miss.

        Raises UnusableAudioError (also for files remembered as unusable, without decoding).
        """
        key = content_hash(path)
        entry = self._entry(key)
        meta_path = entry / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if "skip_reason" in meta:
                raise UnusableAudioError(path, meta["skip_reason"])
            return PreparedFile(path=path, content_hash=key, **meta)
        try:
            loaded, audio, mel = decode_for_training(path, self.mel_config)
        except UnusableAudioError as error:
            self._write_entry(entry, {"skip_reason": error.reason}, arrays={})
            raise
        prepared = PreparedFile(
            path=path,
            content_hash=key,
            n_samples=len(loaded.samples),
            n_frames=mel.shape[1],
            source_rate=loaded.source_rate,
            source_channels=loaded.source_channels,
        )
        meta = {k: v for k, v in asdict(prepared).items() if k not in ("path", "content_hash")}
        self._write_entry(entry, meta, arrays={"audio": audio, "mel": mel})
        return prepared

    def _write_entry(self, entry: Path, meta: dict, *, arrays: dict[str, np.ndarray]) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_temps(entry.parent, min_age_s=_ABANDONED_AFTER_S)
        staging = temp_path_for(entry)
        staging.mkdir()
        try:
            try:
                for name, array in arrays.items():
                    write_npy_atomic(staging / f"{name}.npy", array)
                write_text_atomic(staging / "meta.json", json.dumps(meta))
            except FileSystemError as error:
                raise error.at(entry) from None  # not the staging folder's name
            try:
                os.replace(staging, entry)
            except OSError:
                # Another process (DDP rank, parallel sweep job) stored the same entry first, and a
                # folder cannot be renamed onto a non-empty one: keep theirs, which holds the same.
                if not (entry / "meta.json").exists():
                    raise
            else:
                fsync_directory(entry.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def arrays(self, prepared: PreparedFile) -> tuple[np.ndarray, np.ndarray]:
        """(audio [n_frames * hop], mel [n_mels, n_frames]) float32, memory-mapped: crops read only their bytes."""
        entry = self._entry(prepared.content_hash)
        return np.load(entry / "audio.npy", mmap_mode="r"), np.load(entry / "mel.npy", mmap_mode="r")


class DecodingStore:
    """No cache: every access decodes the file again (slow; for one-off runs and as the benchmark baseline)."""

    def __init__(self, *, mel_config: MelConfig) -> None:
        self.mel_config = mel_config

    def prepare(self, path: Path) -> PreparedFile:
        loaded, _, mel = decode_for_training(path, self.mel_config)
        return PreparedFile(
            path=path,
            content_hash=content_hash(path),
            n_samples=len(loaded.samples),
            n_frames=mel.shape[1],
            source_rate=loaded.source_rate,
            source_channels=loaded.source_channels,
        )

    def arrays(self, prepared: PreparedFile) -> tuple[np.ndarray, np.ndarray]:
        _, audio, mel = decode_for_training(prepared.path, self.mel_config)
        return audio, mel


FileStore = MelCache | DecodingStore
