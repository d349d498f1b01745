"""Placing a mono sound in a stereo field: width from two renderings, a constant-power pan, and
binaural rendering through a head-related impulse response (HRIR) set in a SOFA file.

All three return float32 [T, 2] (left, right) and are pure functions of their inputs, so a sound
made with them is remade bit for bit from its sidecar (``distill.generation``):

- ``widen(sound, variation, width)``: mid/side with the sound as the mid and half the difference
  to a second rendering as the side: left/right = sound +/- width x (variation - sound) / 2. So
  left + right = 2 x sound at every width: folded to mono it is exactly the mono sound, with no
  comb-filter notch (no delay is involved). The variation shares the sound's coarse code level
  and differs in the finer ones, so the side signal is the sound's own detail (grain, the fine structure
  of partials), not added noise. Width 0 is the sound in both channels.
- ``pan(samples, position)``: the sine/cosine law, -3 dB each side at the centre for a mono
  sound; a stereo sound is balanced with the same law scaled to unity at the centre.
- ``binaural(mono, hrir, azimuth, elevation)``: the mono sound convolved with the set's
  measurement nearest to the direction asked (great-circle distance), resampled to the sound's
  rate when the set was measured at another. The output keeps the response's tail.

SOFA (AES69) files are netCDF-4, i.e. HDF5: ``read_sofa`` reads the SimpleFreeFieldHRIR
variables ``Data.IR`` [M, 2, N], ``Data.SamplingRate`` and ``SourcePosition`` [M, 3] (azimuth and
elevation in degrees, or cartesian metres when its ``Type`` attribute says so) with h5py.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.errors import UserError
from distill.files import FileSystemError, file_exists

SOFA_CONVENTION = "SimpleFreeFieldHRIR"


def widen(sound: np.ndarray, variation: np.ndarray, width: float) -> np.ndarray:
    """A mono sound [T] and a variation of it [T] -> stereo [T, 2] of ``width`` 0..1 (module docstring)."""
    if sound.shape != variation.shape or sound.ndim != 1:
        raise ValueError(
            f"widen needs two mono renderings of one length, got {sound.shape} and {variation.shape}"
        )
    mid = sound.astype(np.float64)
    side = (variation.astype(np.float64) - mid) / 2 * width
    return np.stack([mid + side, mid - side], axis=1).astype(np.float32)


def pan(samples: np.ndarray, position: float) -> np.ndarray:
    """Mono [T] or stereo [T, 2] -> stereo [T, 2] placed at ``position`` (-1 left .. 0 centre .. 1 right)."""
    angle = (position + 1) * math.pi / 4  # 0 (left) .. pi/2 (right)
    gains = np.array([math.cos(angle), math.sin(angle)])
    if samples.ndim == 1:
        return (samples.astype(np.float64)[:, None] * gains).astype(np.float32)
    return (samples.astype(np.float64) * gains * math.sqrt(2)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Hrir:
    """A set of head-related impulse responses: one (left, right) pair per measured direction."""

    responses: np.ndarray  # [M, 2, N] float64
    directions: np.ndarray  # [M, 2] azimuth, elevation in degrees (azimuth counter-clockwise from the front)
    sample_rate: int
    sha256: str  # of the file it was read from: a remake checks that it is the same set

    def nearest(self, azimuth: float, elevation: float) -> int:
        """Index of the measured direction closest to (azimuth, elevation) on the sphere."""
        az, el = np.radians(self.directions[:, 0]), np.radians(self.directions[:, 1])
        target_az, target_el = math.radians(azimuth), math.radians(elevation)
        cosine = np.sin(el) * math.sin(target_el) + np.cos(el) * math.cos(target_el) * np.cos(az - target_az)
        return int(np.argmax(cosine))


def read_sofa(path: str | Path) -> Hrir:
    """The HRIR set in the SOFA file ``path``; a UserError naming the file and what is wrong."""
    import h5py

    path = Path(path).expanduser()
    if not file_exists(path):
        raise UserError(
            f"The HRTF file {path} does not exist; give a SOFA file (.sofa) of head-related responses."
        )
    try:
        raw = path.read_bytes()
    except OSError as error:  # permission denied: the file system's sentence, not a traceback
        raise FileSystemError(path, error, action="read") from None
    try:
        with h5py.File(path, "r") as sofa:
            convention = _text(sofa.attrs.get("SOFAConventions", b""))
            if convention and convention != SOFA_CONVENTION:
                raise UserError(
                    f"The HRTF file {path} holds SOFA convention {convention!r}, not {SOFA_CONVENTION}; give a"
                    " free-field HRIR set."
                )
            for name in ("Data.IR", "Data.SamplingRate", "SourcePosition"):
                if name not in sofa:
                    raise UserError(f"The HRTF file {path} has no {name}; it is not a SOFA HRIR set.")
            responses = np.asarray(sofa["Data.IR"], dtype=np.float64)
            rate = float(np.asarray(sofa["Data.SamplingRate"]).reshape(-1)[0])
            positions = np.asarray(sofa["SourcePosition"], dtype=np.float64)
            kind = _text(sofa["SourcePosition"].attrs.get("Type", b"spherical")).lower()
    except OSError as error:
        raise UserError(f"The HRTF file {path} is not readable as SOFA (HDF5): {error}.") from None
    if responses.ndim != 3 or responses.shape[1] != 2 or responses.shape[0] < 1 or responses.shape[2] < 1:
        raise UserError(
            f"The HRTF file {path} has Data.IR of shape {responses.shape}; a SOFA HRIR set is"
            " [measurements, 2 ears, samples]."
        )
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) not in (1, len(responses)):
        raise UserError(
            f"The HRTF file {path} has SourcePosition of shape {positions.shape}; it needs one"
            f" (azimuth, elevation, distance) per measurement ({len(responses)})."
        )
    if not (math.isfinite(rate) and rate > 0 and rate == round(rate)):
        raise UserError(f"The HRTF file {path} has sampling rate {rate}; it must be a whole number of Hz.")
    if not (np.isfinite(responses).all() and np.isfinite(positions).all()):
        raise UserError(f"The HRTF file {path} holds NaN or infinite values.")
    if kind == "cartesian":
        x, y, z = positions.T
        positions = np.stack(
            [
                np.degrees(np.arctan2(y, x)),
                np.degrees(np.arctan2(z, np.hypot(x, y))),
                np.sqrt(x * x + y * y + z * z),
            ],
            axis=1,
        )
    directions = np.broadcast_to(positions[:, :2], (len(responses), 2)).copy()
    return Hrir(responses, directions, int(rate), hashlib.sha256(raw).hexdigest())


def binaural(mono: np.ndarray, hrir: Hrir, azimuth: float, elevation: float, sample_rate: int) -> np.ndarray:
    """Mono [T] at ``sample_rate`` -> stereo [T + N - 1, 2] heard from (azimuth, elevation) degrees."""
    from distill.audio.io import resample

    pair = hrir.responses[hrir.nearest(azimuth, elevation)]  # [2, N]
    if hrir.sample_rate != sample_rate:
        pair = np.stack([resample(ear.astype(np.float32), hrir.sample_rate, sample_rate) for ear in pair])
    n = len(mono) + pair.shape[1] - 1
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(mono.astype(np.float64), size)
    ears = [np.fft.irfft(spectrum * np.fft.rfft(ear.astype(np.float64), size), size)[:n] for ear in pair]
    return np.stack(ears, axis=1).astype(np.float32)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _text(value.reshape(-1)[0]) if value.size else ""
    return str(value)
