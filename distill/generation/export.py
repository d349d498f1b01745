"""Writing a rendered sound to disk: resample, keep the peak safe, encode, describe it in a sidecar.

``export_audio`` resamples the 44.1 kHz ``Audio`` with soxr (HQ) to the requested rate (48 kHz by
default) at exactly ``round(T * out / in)`` samples and measures the peak *after* resampling (band-
limited resampling overshoots on sharp transients). Then ``peak="limit"`` scales the whole sound down
to the ceiling if it is above it, ``"normalize"`` always scales the peak to the ceiling, and ``"none"``
writes the samples as they are but refuses (UserError) a sound that would clip. A scaling is one gain
over the file, never a clipper, so nothing is distorted; the gain is reported.

Formats: ``FORMATS`` below (WAV pcm16/pcm24/float, FLAC pcm16/pcm24, OGG vorbis; pcm24 by default).

Sidecar (``distill.generation.sidecar``): ``<file name>.json`` next to the audio. The same metadata
and ``read_sidecar(...).export_options`` give a byte-identical WAV or FLAC again; an OGG decodes to
identical samples (libsndfile gives each Ogg stream a random serial number).

Variations (``--count N``): ``output_paths(Path("out.wav"), 3)`` -> ``out-0.wav``, ``out-1.wav``,
``out-2.wav`` (index zero-padded to the width of ``N - 1`` so they sort; file ``i`` holds seed
``seed + i``); a count of 1 keeps the name.

Both files are encoded in memory first, then written atomically (``distill.files.atomic_write``: temp
file in the same folder, fsync, rename), the audio first and its sidecar last. So whatever stops an
export (an error, a full disk, a kill) leaves under the final names either the earlier pair, or the
new audio with or without its sidecar, never half a file and never a sidecar describing other audio:
an earlier sidecar of ``path`` is removed just before the new audio is renamed into place. A kill
leaves at most a hidden temp file, which ``distill.files.remove_abandoned_temps`` clears.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from distill.audio.io import resample
from distill.errors import UserError
from distill.files import FileSystemError, atomic_write
from distill.generation.sidecar import sidecar_json, sidecar_path

# Rates outside this range are almost certainly a typo (e.g. 48 for 48000); every format here
# handles the whole range.
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
PEAK_MODES = ("limit", "normalize", "none")
RESAMPLER = "soxr HQ"


@dataclass(frozen=True)
class _FileFormat:
    soundfile_format: str
    subtypes: dict[str, str]  # our name -> soundfile subtype
    default_subtype: str
    # The same sound and settings write the same bytes; not Ogg, whose streams get a random serial
    # number from libsndfile (the decoded samples are identical).
    byte_exact: bool = True


FORMATS: dict[str, _FileFormat] = {
    "wav": _FileFormat("WAV", {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}, "pcm24"),
    "flac": _FileFormat("FLAC", {"pcm16": "PCM_16", "pcm24": "PCM_24"}, "pcm24"),  # FLAC has no float
    "ogg": _FileFormat("OGG", {"vorbis": "VORBIS"}, "vorbis", byte_exact=False),  # lossy: no bit depth
}


@dataclass(frozen=True, eq=False)
class Audio:
    """A rendered sound: ``samples`` float32 [T] (mono) or [T, 2] (left, right) at ``sample_rate``
    (44100 inside distill).

    ``metadata`` is a JSON-safe dict (model id/name, generation parameters, seed, distill version)
    that ``export_audio`` copies into the sidecar so the file can be regenerated.
    """

    samples: np.ndarray  # [T] float32 mono, or [T, 2] stereo
    sample_rate: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        samples = np.ascontiguousarray(np.asarray(self.samples), dtype=np.float32)
        if not (samples.ndim == 1 or (samples.ndim == 2 and samples.shape[1] == 2)):
            raise ValueError(
                f"Audio.samples must be mono [T] or stereo [T, 2], got shape {tuple(samples.shape)}"
            )
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, numbers.Integral):
            raise ValueError(f"Audio.sample_rate must be an int, got {self.sample_rate!r}")
        if self.sample_rate <= 0:
            raise ValueError(f"Audio.sample_rate must be positive, got {self.sample_rate}")
        try:
            # A private deep copy through JSON: proves the metadata is JSON-safe now, not at export
            # time, and keeps later edits of the caller's dict out of this frozen object.
            metadata = json.loads(json.dumps(self.metadata, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise ValueError(f"Audio.metadata must be JSON-serialisable: {error}") from error
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "metadata", metadata)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else self.samples.shape[1]

    def save(self, path: str | Path, **options: Any) -> ExportResult:
        """Export to ``path``; ``options`` are ``export_audio``'s keyword arguments."""
        return export_audio(self, path, **options)


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    path: Path
    sidecar_path: Path | None
    format: str  # "wav" | "flac" | "ogg"
    subtype: str  # "pcm16" | "pcm24" | "float" | "vorbis"
    sample_rate: int
    n_samples: int
    duration_s: float
    peak_in_dbfs: float | None  # after resampling, before the gain; None for digital silence
    peak_out_dbfs: float | None  # what was written (before any lossy encoding)
    gain_db: float  # 0.0 unless limited or normalised
    clip_samples_avoided: int  # samples above full scale that a plain write would have clipped

    @property
    def peak_report(self) -> str | None:
        """One line for the CLI when the level was changed, else None."""
        if self.gain_db == 0.0:
            return None
        line = f"{self.path.name}: gain {self.gain_db:+.1f} dB (peak {_format_db(self.peak_in_dbfs)} -> "
        line += f"{_format_db(self.peak_out_dbfs)})"
        if self.clip_samples_avoided:
            line += f"; {self.clip_samples_avoided} samples would have clipped"
        return line


def export_audio(
    audio: Audio,
    path: str | Path,
    *,
    sample_rate: int = 48000,
    format: str | None = None,
    subtype: str | None = None,
    peak: str = "limit",
    peak_ceiling_db: float = -1.0,
    sidecar: bool = True,
) -> ExportResult:
    """Resample, make peak-safe, encode and atomically write ``audio`` (and its sidecar) to ``path``.

    ``format`` defaults to the file suffix; given explicitly, a suffix-less path gets it appended.
    Raises UserError, with one sentence naming the value, for anything the caller can fix.
    """
    path, format_name = _resolve_format(Path(path), format)
    file_format = FORMATS[format_name]
    subtype_name = _resolve_subtype(format_name, file_format, subtype)
    _check_sample_rate(sample_rate)
    sample_rate = int(sample_rate)  # a numpy integer would not serialise into the sidecar
    _check_peak_settings(peak, peak_ceiling_db)
    _check_samples(audio)

    n_out = (len(audio.samples) * sample_rate + audio.sample_rate // 2) // audio.sample_rate
    if n_out == 0:
        raise UserError(
            f"The audio ({len(audio.samples)} samples at {audio.sample_rate} Hz) is shorter than one sample "
            f"at {sample_rate} Hz; generate a longer sound."
        )
    samples = _fit_length(resample(audio.samples, audio.sample_rate, sample_rate), n_out)

    peak_in = float(np.max(np.abs(samples)))
    ceiling = 10.0 ** (peak_ceiling_db / 20.0)
    clip_samples = int(np.count_nonzero(np.abs(samples) > 1.0))
    gain = 1.0
    if peak_in > 0.0 and (peak == "normalize" or (peak == "limit" and peak_in > ceiling)):
        gain = ceiling / peak_in
    elif peak == "none" and clip_samples:
        raise UserError(
            f"The audio peaks at {_format_db(_dbfs(peak_in))} after resampling to {sample_rate} Hz and would "
            f"clip with peak='none'; use peak='limit' or peak='normalize'."
        )
    if gain != 1.0:
        samples = (samples.astype(np.float64) * gain).astype(np.float32)
    peak_out = float(np.max(np.abs(samples)))

    audio_bytes = _encode(samples, sample_rate, file_format, subtype_name)
    result = ExportResult(
        path=path,
        sidecar_path=sidecar_path(path) if sidecar else None,
        format=format_name,
        subtype=subtype_name,
        sample_rate=sample_rate,
        n_samples=len(samples),
        duration_s=len(samples) / sample_rate,
        peak_in_dbfs=_dbfs(peak_in),
        peak_out_dbfs=_dbfs(peak_out),
        gain_db=0.0 if gain == 1.0 else 20.0 * math.log10(gain),
        clip_samples_avoided=clip_samples if gain != 1.0 else 0,
    )
    sidecar_bytes = (
        sidecar_json(
            audio,
            result,
            peak=peak,
            peak_ceiling_db=peak_ceiling_db,
            audio_bytes=audio_bytes,
            resampler=RESAMPLER,
        )
        if sidecar
        else None
    )

    old_sidecar = sidecar_path(path)

    def write_audio(handle: BinaryIO) -> None:
        handle.write(audio_bytes)
        handle.flush()
        os.fsync(handle.fileno())  # (atomic_write's own fsync then has nothing left to do)
        # A sidecar already beside ``path`` describes the sound about to be replaced. It goes now,
        # once the new audio is safely in its temp file, just before the rename: a failure or a kill
        # up to here leaves the old pair whole, and none after it a sidecar of other audio.
        try:
            old_sidecar.unlink(missing_ok=True)
        except OSError as error:  # a folder of its name: refused before the audio is in place
            raise FileSystemError(old_sidecar, error, action="write") from None

    # The audio first, its sidecar last: a sidecar never names a file that is not there yet.
    atomic_write(path, write_audio)
    if result.sidecar_path is not None and sidecar_bytes is not None:
        atomic_write(result.sidecar_path, lambda handle: handle.write(sidecar_bytes))
    return result


# What a sound's bytes are, compared with the same samples as PCM: WAV is PCM (plus a header);
# FLAC typically keeps 50-70 % of it, Ogg Vorbis at libsndfile's default quality about a tenth.
_TYPICAL_SHARE_OF_PCM = {"wav": 1.0, "flac": 0.7, "ogg": 0.12}
_PCM_BYTES = {"pcm16": 2, "pcm24": 3, "float": 4, "vorbis": 2}
_SIDECAR_BYTES = 4096  # a sidecar's JSON is 1-3 kB


def expected_file_bytes(
    path: str | Path,
    duration_s: float,
    *,
    channels: int,
    sample_rate: int = 48000,
    format: str | None = None,
    subtype: str | None = None,
) -> int:
    """About how many bytes one exported sound of ``duration_s`` takes with its sidecar (exact for
    WAV up to the header; a typical compression for FLAC and Ogg). Bad settings fail here, as in
    ``export_audio``, so a batch can be refused before anything is generated."""
    path, format_name = _resolve_format(Path(path), format)
    subtype_name = _resolve_subtype(format_name, FORMATS[format_name], subtype)
    _check_sample_rate(sample_rate)
    pcm = duration_s * sample_rate * channels * _PCM_BYTES[subtype_name]
    return int(pcm * _TYPICAL_SHARE_OF_PCM[format_name]) + _SIDECAR_BYTES


def output_paths(base: str | Path, count: int) -> list[Path]:
    """The file names for ``count`` variations: ``out.wav`` -> ``out-0.wav`` ... (count 1: ``out.wav``)."""
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise UserError(f"The count {count!r} must be a whole number of at least 1.")
    base = Path(base)
    if count == 1:
        return [base]
    width = len(str(count - 1))
    return [base.with_name(f"{base.stem}-{index:0{width}d}{base.suffix}") for index in range(count)]


# --- checks ---------------------------------------------------------------------------------------


def _resolve_format(path: Path, format: str | None) -> tuple[Path, str]:
    suffix = path.suffix.lower().lstrip(".")
    choices = ", ".join(f".{name}" for name in FORMATS)
    if format is None:
        if suffix not in FORMATS:
            shown = f"suffix '.{suffix}'" if suffix else "no suffix"
            raise UserError(f"The output file {path} has {shown}; name it with one of {choices}.")
        return path, suffix
    name = str(format).lower().lstrip(".")
    if name not in FORMATS:
        raise UserError(f"Unknown audio format '{format}'; choose one of {', '.join(FORMATS)}.")
    if not suffix:
        return path.with_name(f"{path.name}.{name}"), name
    if suffix != name:
        raise UserError(
            f"The output file {path} does not match the format '{name}'; name it *.{name} or drop the format."
        )
    return path, name


def _resolve_subtype(format_name: str, file_format: _FileFormat, subtype: str | None) -> str:
    if subtype is None:
        return file_format.default_subtype
    name = str(subtype).lower()
    if name not in file_format.subtypes:
        raise UserError(
            f"The sample format '{subtype}' is not available for {format_name.upper()}; "
            f"choose one of {', '.join(file_format.subtypes)}."
        )
    return name


def _check_sample_rate(sample_rate: Any) -> None:
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Integral)
        or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise UserError(
            f"The sample rate {sample_rate!r} is not usable; give a whole number of Hz from "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (e.g. 48000)."
        )


def _check_peak_settings(peak: str, peak_ceiling_db: float) -> None:
    if peak not in PEAK_MODES:
        raise UserError(f"Unknown peak mode '{peak}'; choose one of {', '.join(PEAK_MODES)}.")
    if (
        isinstance(peak_ceiling_db, bool)
        or not isinstance(peak_ceiling_db, numbers.Real)
        or not math.isfinite(peak_ceiling_db)
        or not -60.0 <= peak_ceiling_db <= 0.0
    ):
        raise UserError(
            f"The peak ceiling {peak_ceiling_db!r} dBFS is not usable; give a number from -60 to 0 (e.g. -1)."
        )


def _check_samples(audio: Audio) -> None:
    if len(audio.samples) == 0:
        raise UserError(
            "The audio to export is empty (0 samples); generate a sound with a positive duration."
        )
    if not np.isfinite(audio.samples).all():
        raise UserError(
            "The audio to export contains NaN or infinite samples; the model output is broken, "
            "so try another seed or retrain the model."
        )


# --- encoding -------------------------------------------------------------------------------------


def _fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    # soxr rounds the output length up; the contract is exactly round(T * out / in) samples.
    if len(samples) >= n:
        return np.ascontiguousarray(samples[:n], dtype=np.float32)
    return np.concatenate([samples, np.zeros((n - len(samples), *samples.shape[1:]), dtype=np.float32)])


def _encode(samples: np.ndarray, sample_rate: int, file_format: _FileFormat, subtype: str) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(
        buffer,
        samples,
        sample_rate,
        format=file_format.soundfile_format,
        subtype=file_format.subtypes[subtype],
    )
    data = buffer.getvalue()
    if file_format.soundfile_format == "WAV":
        data = _drop_riff_chunk(data, b"PEAK")
    return data


def _drop_riff_chunk(data: bytes, chunk_id: bytes) -> bytes:
    """Remove one chunk kind from a RIFF/WAVE file and fix the RIFF size.

    libsndfile adds a PEAK chunk to float WAVs that holds the wall-clock time of writing, which would
    make two exports of the same sound differ; the peak is in the sidecar anyway.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    kept = [data[:12]]
    offset = 12
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        end = min(len(data), offset + 8 + size + (size & 1))  # chunks are padded to even length
        if data[offset : offset + 4] != chunk_id:
            kept.append(data[offset:end])
        offset = end
    kept.append(data[offset:])
    body = b"".join(kept)
    return body[:4] + (len(body) - 8).to_bytes(4, "little") + body[8:]


def _dbfs(peak: float) -> float | None:
    return None if peak <= 0.0 else 20.0 * math.log10(peak)


def _format_db(value: float | None) -> str:
    return "silence" if value is None else f"{value:+.1f} dBFS"
