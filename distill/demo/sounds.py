"""A small synthetic sound world for the demo: ten percussive and tonal instruments, two takes each.

Made with numpy only (no downloads). Each take of an instrument is drawn with its own tuning,
decay and noise, as two strikes of a real drum differ: so the files the training holds out are
new takes of instruments it learned (what "as close as real new recordings" means in the demo's
evaluation), and the prior has variation to learn rather than ten single examples to replay.
Twenty files keeps the collection in the small tier.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from distill.files import write_wav_atomic

SR = 44100


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(SR * seconds)) / SR


def _env(t: np.ndarray, decay: float, attack: float = 0.002) -> np.ndarray:
    return np.minimum(t / attack, 1.0) * np.exp(-t * decay)


def _vary(rng: np.random.Generator, spread: float = 0.08) -> float:
    """A take's deviation from the instrument's nominal tuning or decay: a factor near 1."""
    return float(rng.uniform(1.0 - spread, 1.0 + spread))


def kick(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.6)
    freq = 45 * _vary(rng) + 120 * np.exp(-t * 30 * _vary(rng))  # the pitch drop that makes a kick
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * _env(t, 7 * _vary(rng))


def snare(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.35)
    body = np.sin(2 * np.pi * 190 * _vary(rng) * t) * _env(t, 25)
    return 0.5 * body + 0.6 * rng.standard_normal(len(t)) * _env(t, 14 * _vary(rng))


def hat(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.12)
    noise = np.diff(rng.standard_normal(len(t) + 1))  # first difference: a bright, high-passed hiss
    return 0.5 * noise * _env(t, 45 * _vary(rng, 0.2))


def clap(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.3)
    bursts = sum(_env(np.clip(t - d, 0, None), 60) * (t >= d) for d in (0.0, 0.011, 0.023))
    return 0.6 * rng.standard_normal(len(t)) * (bursts + 0.4 * _env(t, 12))


def tom(pitch: float) -> Callable[[np.random.Generator], np.ndarray]:
    def make(rng: np.random.Generator) -> np.ndarray:
        t = _t(0.5)
        freq = pitch * _vary(rng, 0.04) * (1 + 0.5 * np.exp(-t * 25))
        return np.sin(2 * np.pi * np.cumsum(freq) / SR) * _env(t, 9 * _vary(rng))

    return make


def pluck(pitch: float) -> Callable[[np.random.Generator], np.ndarray]:
    """Karplus-Strong string: a noise burst in a damped delay line."""

    def make(rng: np.random.Generator) -> np.ndarray:
        period = int(SR / (pitch * _vary(rng, 0.02)))
        out = np.zeros(int(SR * 1.0))
        out[:period] = rng.uniform(-1, 1, period)
        for i in range(period, len(out)):
            out[i] = 0.996 * 0.5 * (out[i - period] + out[i - period - 1])
        return 0.7 * out

    return make


def bell(rng: np.random.Generator) -> np.ndarray:
    t = _t(1.2)
    ratio = _vary(rng, 0.03)
    modulator = 3.5 * _vary(rng) * np.exp(-t * 3) * np.sin(2 * np.pi * 1400 * ratio * t)
    return 0.5 * np.sin(2 * np.pi * 560 * ratio * t + modulator) * _env(t, 3 * _vary(rng))


def chord_stab(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.5)
    tuning = _vary(rng, 0.03)
    saw = sum(((f * tuning * t) % 1.0) * 2 - 1 for f in (220.0, 277.2, 329.6))
    return 0.25 * saw * _env(t, 8 * _vary(rng))


def wood_block(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.15)
    tuning = _vary(rng, 0.05)
    return sum(np.sin(2 * np.pi * f * tuning * t) for f in (1200, 2650)) * 0.4 * _env(t, 60 * _vary(rng))


SOUNDS = {
    "kick": kick,
    "snare": snare,
    "hat": hat,
    "clap": clap,
    "tom_low": tom(90),
    "tom_high": tom(160),
    "pluck": pluck(220),
    "bell": bell,
    "chord_stab": chord_stab,
    "wood_block": wood_block,
}
TAKES = 2


def write_demo_sounds(folder: Path, *, seed: int = 0) -> list[Path]:
    """Write ``TAKES`` takes of each instrument as 16-bit WAVs at 44.1 kHz (``kick_1.wav``, ...),
    each peak-normalised to between -1 and -7 dBFS (takes differ in level too)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name, make in SOUNDS.items():
        for take in range(1, TAKES + 1):
            audio = make(rng)
            audio = 0.89 * rng.uniform(0.5, 1.0) * audio / np.abs(audio).max()
            path = folder / f"{name}_{take}.wav"
            write_wav_atomic(path, audio.astype(np.float32), SR, subtype="PCM_16")
            paths.append(path)
    return paths
