"""The evaluation's distance and shapes: 0 for a set against itself, noise farther than new recordings."""

import numpy as np
import pytest

from distill.audio.mel import MelConfig
from distill.evaluation.features import (
    POOLED_BANDS,
    FrameStatistics,
    SoundShape,
    Spread,
    frechet_distance,
    sounding_frames,
)

SR = 44100
CONFIG = MelConfig()


def pluck(freq: float, seconds: float, seed: int) -> np.ndarray:
    """A decaying harmonic tone with a little noise: one "recording" of a tonal one-shot collection."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return (0.4 * tone * np.exp(-4 * t) + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def collection(freqs, seed):
    return [pluck(f, 0.8, seed + i) for i, f in enumerate(freqs)]


def test_a_set_is_at_distance_zero_from_itself():
    clips = collection([220, 330, 440, 550], seed=0)
    stats = FrameStatistics.of(clips, CONFIG)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-6)


def test_noise_is_farther_from_the_collection_than_new_recordings_of_it():
    training = FrameStatistics.of(collection([200, 250, 300, 350, 400, 450], seed=0), CONFIG)
    heldout = FrameStatistics.of(collection([225, 325, 425], seed=10), CONFIG)
    rng = np.random.default_rng(0)
    noise = FrameStatistics.of([(0.05 * rng.standard_normal(int(0.8 * SR))).astype(np.float32)] * 3, CONFIG)
    near, far = frechet_distance(heldout, training), frechet_distance(noise, training)
    assert 0 < near < far / 5


def test_silence_after_a_sound_is_not_counted_as_its_frames():
    sound = pluck(300, 0.5, seed=0)
    padded = np.concatenate([sound, np.zeros(SR, dtype=np.float32)])
    assert sounding_frames(padded, CONFIG).shape[1] == POOLED_BANDS
    assert len(sounding_frames(padded, CONFIG)) < len(padded) // 512 // 2


def test_a_hit_has_a_strong_onset_and_a_high_crest_and_a_drone_neither():
    rng = np.random.default_rng(0)
    strike = pluck(300, 1.0, seed=0) + (0.5 * rng.standard_normal(SR) * np.exp(-30 * np.arange(SR) / SR))
    hit = np.concatenate([np.zeros(4410), strike]).astype(np.float32)  # a broadband strike, then a ring
    t = np.arange(SR) / SR
    drone = (0.3 * np.sin(2 * np.pi * 300 * t) * np.minimum(t / 0.4, 1.0)).astype(np.float32)  # fades in
    hit_shape, drone_shape = SoundShape.of(hit, CONFIG), SoundShape.of(drone, CONFIG)
    assert hit_shape.onset_strength > 3 * drone_shape.onset_strength
    assert hit_shape.crest_db > drone_shape.crest_db + 3
    assert hit_shape.duration_s == pytest.approx(1.1, abs=1e-3)


def test_a_spread_is_the_median_and_the_10th_and_90th_percentiles():
    spread = Spread.of(list(range(11)))
    assert (spread.median, spread.low, spread.high) == (5.0, 1.0, 9.0)
