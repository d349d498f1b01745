"""DC removal and the not-sound check applied to everything generation writes."""

import numpy as np

from distill.audio.level import not_sound, remove_dc

RATE = 44100


def test_constant_and_drifting_offsets_are_removed_and_bass_is_kept():
    t = np.arange(2 * RATE) / RATE
    kick = (0.5 * np.sin(2 * np.pi * 50 * t) * np.exp(-3 * t)).astype(np.float32)
    offset = 0.2 + 0.05 * t  # a constant offset plus a slow drift
    cleaned = remove_dc((kick + offset).astype(np.float32), RATE)
    assert cleaned.dtype == np.float32 and cleaned.shape == kick.shape
    assert abs(float(cleaned.mean())) < 1e-3 * float(np.abs(cleaned).max())
    # Away from the ends, the 50 Hz body is within a few percent of what it was.
    middle = slice(RATE // 4, 7 * RATE // 4)
    error = np.sqrt(np.mean((cleaned[middle] - kick[middle]) ** 2)) / np.sqrt(np.mean(kick[middle] ** 2))
    assert error < 0.1


def test_constant_silent_and_real_sound_are_told_apart():
    rng = np.random.default_rng(0)
    assert "constant" in not_sound(np.full(RATE, 0.187, dtype=np.float32))
    assert "near-silent" in not_sound(rng.normal(0, 1e-4, RATE).astype(np.float32) + 0.3)
    assert not_sound(np.zeros(0, dtype=np.float32)) == "empty"
    assert not_sound((0.1 * rng.normal(size=RATE)).astype(np.float32)) is None
