"""What makes rendered audio fit to be written as sound: no DC offset, and not silence or a constant.

A vocoder can add a DC offset (HiFi-GAN's last convolution has a bias; an untrained one writes
little else), which wastes headroom, clicks at the start and end of playback and reads as a level
on meters. Generation removes it from everything it writes and says so when what is left is not
sound at all.
"""

from __future__ import annotations

import math

import numpy as np

# Offsets slower than this are removed (the audible band starts at 20 Hz; a kick's body sits at 40-80 Hz).
DC_CUTOFF_HZ = 5.0
# Below this peak (-60 dBFS) a file is near-silent.
SILENT_PEAK = 1e-3
# Below this standard deviation (-80 dB) the signal is a constant, whatever its offset.
CONSTANT_STD = 1e-4


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred mean over ``width`` samples (fewer at the ends), via a float64 running sum."""
    padded = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    index = np.arange(len(x))
    lo = np.clip(index - width // 2, 0, len(x))
    hi = np.clip(index + width - width // 2, 0, len(x))
    return (padded[hi] - padded[lo]) / np.maximum(hi - lo, 1)


def remove_dc(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` [T] minus its slowly varying offset: a high-pass at about ``DC_CUTOFF_HZ``.

    Two passes of a centred moving average of 1 / DC_CUTOFF_HZ seconds (a triangular low-pass
    whose side lobes are -26 dB, so bass above ~20 Hz is left within a few percent) are subtracted,
    then the remaining mean, so the result's mean is zero to float precision.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return np.asarray(samples, dtype=np.float32)
    width = max(1, round(sample_rate / DC_CUTOFF_HZ))
    drift = _moving_average(_moving_average(x, width), width)
    out = x - drift
    out -= out.mean()
    return out.astype(np.float32)


def not_sound(samples: np.ndarray) -> str | None:
    """Why ``samples`` [T] are no sound worth writing ("near-silent ...", "constant ..."), or None."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return "empty"
    if float(x.std()) < CONSTANT_STD:
        return f"a constant (level {x.mean():+.4f}, no sound)"
    peak = float(np.max(np.abs(x - x.mean())))
    if peak < SILENT_PEAK:
        return f"near-silent (peak {20 * math.log10(max(peak, 1e-12)):.0f} dBFS)"
    return None
