"""The sidecar JSON next to an exported sound: everything needed to make the same file again.

``<file name>.json`` beside the audio (``out.wav`` -> ``out.wav.json``, so ``out.wav`` and ``out.flac``
never share one) holds the sound's metadata (model, generation parameters, seed, filled by the pipeline;
``DistillModel.generate`` adds the model file's path and digests), the export settings, what the
export did, the audio file's sha256, and once, under ``software``, the versions that made and wrote
it. ``read_sidecar(...).export_options`` are exactly the keyword arguments of ``export_audio``;
``distill.generation.remake`` reads a sidecar to make the same file again (``DistillModel.remake``,
``distill generate --from <sidecar>``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill.errors import UserError
from distill.files import FileSystemError

if TYPE_CHECKING:
    from distill.generation.export import Audio, ExportResult

SIDECAR_SUFFIX = ".json"
SIDECAR_MARKER = "distill-audio-sidecar"
SIDECAR_VERSION = 1
EXPORT_OPTION_KEYS = ("sample_rate", "format", "subtype", "peak", "peak_ceiling_db")


@dataclass(frozen=True, kw_only=True)
class Sidecar:
    audio_file: str
    sha256: str
    metadata: dict[str, Any]
    export_options: dict[str, Any]  # keyword arguments of export_audio that reproduce the file
    gain_db: float


def sidecar_path(audio_path: str | Path) -> Path:
    """``out.wav`` -> ``out.wav.json``."""
    audio_path = Path(audio_path)
    return audio_path.with_name(audio_path.name + SIDECAR_SUFFIX)


def read_sidecar(path: str | Path) -> Sidecar:
    """Read a sidecar (give the audio file or the ``.json`` itself)."""
    path = Path(path)
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"No sidecar file {path}; check the path (a sidecar is written next to the audio on export)."
        ) from None
    except OSError as error:  # permission denied, a folder, a file on the way: not bad JSON
        raise FileSystemError(path, error, action="read") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"The sidecar {path} is not readable JSON ({error}).") from None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_MARKER:
        raise UserError(f"{path} is not a distill sidecar file.")
    if data.get("version") != SIDECAR_VERSION:
        raise UserError(
            f"The sidecar {path} has version {data.get('version')!r}; this distill reads version "
            f"{SIDECAR_VERSION}, so upgrade distill."
        )
    try:
        return Sidecar(
            audio_file=data["audio_file"],
            sha256=data["sha256"],
            metadata=data["metadata"],
            export_options={key: data["export"][key] for key in EXPORT_OPTION_KEYS},
            gain_db=data["result"]["gain_db"],
        )
    except (KeyError, TypeError) as error:
        raise UserError(f"The sidecar {path} is missing the entry {error}; export the sound again.") from None


def sidecar_json(
    audio: Audio,
    result: ExportResult,
    *,
    peak: str,
    peak_ceiling_db: float,
    audio_bytes: bytes,
    resampler: str,
) -> bytes:
    """The sidecar document of one export, as UTF-8 JSON bytes."""
    import soundfile as sf
    import soxr

    from distill import __version__

    metadata = dict(audio.metadata)
    # What made the samples (a generated sound records its torch) and what wrote the file, once.
    made_with = metadata.pop("versions", None)
    software = {
        **(made_with if isinstance(made_with, dict) else {}),
        "distill": __version__,
        "soxr": soxr.__version__,
        "libsndfile": sf.__libsndfile_version__,
    }
    data = {
        "format": SIDECAR_MARKER,
        "version": SIDECAR_VERSION,
        "audio_file": result.path.name,
        "sha256": hashlib.sha256(audio_bytes).hexdigest(),
        "metadata": metadata,
        "source": {
            "sample_rate": audio.sample_rate,
            "n_samples": len(audio.samples),
            "channels": audio.channels,
        },
        "export": {
            "sample_rate": result.sample_rate,
            "format": result.format,
            "subtype": result.subtype,
            "peak": peak,
            "peak_ceiling_db": float(peak_ceiling_db),
            "resampler": resampler,
        },
        "result": {
            "n_samples": result.n_samples,
            "duration_s": result.duration_s,
            "peak_in_dbfs": result.peak_in_dbfs,
            "peak_out_dbfs": result.peak_out_dbfs,
            "gain_db": result.gain_db,
            "clip_samples_avoided": result.clip_samples_avoided,
        },
        "software": software,
    }
    return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode("utf-8")
