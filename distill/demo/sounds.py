"""A small synthetic sound world for the demo: twelve distinct percussive and tonal one-shots.

Made with numpy only (no downloads), varied enough that a model trained on them produces
recognisably "drum-machine-and-plucks" material.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

SR = 44100


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(SR * seconds)) / SR


def _env(t: np.ndarray, decay: float, attack: float = 0.002) -> np.ndarray:
    return np.minimum(t / attack, 1.0) * np.exp(-t * decay)


def kick(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.6)
    freq = 45 + 120 * np.exp(-t * 30)  # the pitch drop that makes a kick
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * _env(t, 7)


def snare(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.35)
    body = np.sin(2 * np.pi * 190 * t) * _env(t, 25)
    return 0.5 * body + 0.6 * rng.standard_normal(len(t)) * _env(t, 14)


def hat(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.12)
    noise = np.diff(rng.standard_normal(len(t) + 1))  # first difference: a bright, high-passed hiss
    return 0.5 * noise * _env(t, 45)


def clap(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.3)
    bursts = sum(_env(np.clip(t - d, 0, None), 60) * (t >= d) for d in (0.0, 0.011, 0.023))
    return 0.6 * rng.standard_normal(len(t)) * (bursts + 0.4 * _env(t, 12))


def tom(pitch: float) -> Callable[[np.random.Generator], np.ndarray]:
    def make(rng: np.random.Generator) -> np.ndarray:
        t = _t(0.5)
        freq = pitch * (1 + 0.5 * np.exp(-t * 25))
        return np.sin(2 * np.pi * np.cumsum(freq) / SR) * _env(t, 9)

    return make


def pluck(pitch: float) -> Callable[[np.random.Generator], np.ndarray]:
    """Karplus-Strong string: a noise burst in a damped delay line."""

    def make(rng: np.random.Generator) -> np.ndarray:
        period = int(SR / pitch)
        out = np.zeros(int(SR * 1.0))
        out[:period] = rng.uniform(-1, 1, period)
        for i in range(period, len(out)):
            out[i] = 0.996 * 0.5 * (out[i - period] + out[i - period - 1])
        return 0.7 * out

    return make


def bell(rng: np.random.Generator) -> np.ndarray:
    t = _t(1.2)
    modulator = 3.5 * np.exp(-t * 3) * np.sin(2 * np.pi * 1400 * t)
    return 0.5 * np.sin(2 * np.pi * 560 * t + modulator) * _env(t, 3)


def chord_stab(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.5)
    saw = sum(((f * t) % 1.0) * 2 - 1 for f in (220.0, 277.2, 329.6))
    return 0.25 * saw * _env(t, 8)


def wood_block(rng: np.random.Generator) -> np.ndarray:
    t = _t(0.15)
    return sum(np.sin(2 * np.pi * f * t) for f in (1200, 2650)) * 0.4 * _env(t, 60)


SOUNDS = {
    "kick": kick,
    "snare": snare,
    "hat": hat,
    "clap": clap,
    "tom_low": tom(90),
    "tom_high": tom(160),
    "pluck_a": pluck(220),
    "pluck_e": pluck(329.6),
    "bell": bell,
    "chord_stab": chord_stab,
    "wood_block": wood_block,
    "bass_pluck": pluck(82.4),
}


def write_demo_sounds(folder: Path, *, seed: int = 0) -> list[Path]:
    """Write the twelve one-shots as 16-bit WAVs at 44.1 kHz, peak-normalised to -1 dBFS."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name, make in SOUNDS.items():
        audio = make(rng)
        audio = 0.89 * audio / np.abs(audio).max()
        path = folder / f"{name}.wav"
        sf.write(str(path), audio.astype(np.float32), SR, subtype="PCM_16")
        paths.append(path)
    return paths
