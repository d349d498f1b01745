"""Stereo width, pan and binaural rendering (distill.audio.spatial), and reading SOFA files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sofa_file import DELAYS, write_sofa

from distill.audio.spatial import binaural, pan, read_sofa, widen
from distill.errors import UserError

RATE = 44100


def _noise(seed: int, n: int = 4096) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1


@pytest.mark.parametrize("width", [0.0, 0.3, 1.0])
def test_width_keeps_the_mono_sum_exactly_the_sound(width):
    sound, variation = _noise(0), _noise(1)
    stereo = widen(sound, variation, width)
    assert stereo.shape == (4096, 2) and stereo.dtype == np.float32
    np.testing.assert_allclose(stereo.sum(axis=1), 2 * sound, atol=1e-6)  # folded to mono: the sound
    side = (stereo[:, 0] - stereo[:, 1]) / 2
    np.testing.assert_allclose(side, width * (variation - sound) / 2, atol=1e-6)


def test_width_zero_is_the_sound_in_both_channels_and_more_width_more_side():
    sound, variation = _noise(0), _noise(1)
    assert np.array_equal(widen(sound, variation, 0.0)[:, 0], widen(sound, variation, 0.0)[:, 1])
    sides = [np.std(np.diff(widen(sound, variation, w), axis=1)) for w in (0.25, 0.5, 1.0)]
    assert sides[0] < sides[1] < sides[2]


def test_widen_needs_two_mono_renderings_of_one_length():
    with pytest.raises(ValueError, match="one length"):
        widen(_noise(0), _noise(1, 100), 0.5)


def test_pan_is_constant_power_and_places_a_mono_sound():
    sound = _noise(2)
    centre = pan(sound, 0.0)
    np.testing.assert_allclose(centre[:, 0], sound / math.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(centre[:, 0], centre[:, 1])
    left, right = pan(sound, -1.0), pan(sound, 1.0)
    assert np.abs(left[:, 1]).max() < 1e-7 and np.abs(right[:, 0]).max() < 1e-7
    for position in (-0.7, -0.2, 0.4, 0.9):
        power = (pan(sound, position).astype(np.float64) ** 2).sum()
        assert power == pytest.approx((sound.astype(np.float64) ** 2).sum(), rel=1e-5)
    assert np.abs(pan(sound, 0.5)[:, 1]).sum() > np.abs(pan(sound, 0.5)[:, 0]).sum()


def test_pan_of_a_stereo_sound_leaves_the_centre_unchanged():
    stereo = widen(_noise(0), _noise(1), 1.0)
    np.testing.assert_allclose(pan(stereo, 0.0), stereo, rtol=1e-6)
    assert np.abs(pan(stereo, 1.0)[:, 0]).max() < 1e-7


def _lag(stereo: np.ndarray) -> int:
    """How many samples the right channel lags the left (cross-correlation peak)."""
    left, right = stereo[:, 0].astype(np.float64), stereo[:, 1].astype(np.float64)
    correlation = np.correlate(right, left, mode="full")
    return int(np.argmax(correlation)) - (len(left) - 1)


@pytest.mark.parametrize("cartesian", [False, True])
@pytest.mark.parametrize("direction", [(90.0, 0.0), (-90.0, 0.0), (0.0, 0.0)])
def test_binaural_gives_the_interaural_time_difference_of_the_nearest_measurement(
    tmp_path, direction, cartesian
):
    hrir = read_sofa(write_sofa(tmp_path / "set.sofa", cartesian=cartesian))
    sound = _noise(3, 2000)
    out = binaural(sound, hrir, *direction, RATE)
    assert out.shape == (2000 + 63, 2)
    left_delay, right_delay = DELAYS[direction]
    assert _lag(out) == right_delay - left_delay  # exactly: the responses are shifted impulses
    # A direction between measurements takes the nearest one.
    assert _lag(binaural(sound, hrir, direction[0] + 10, direction[1] + 5, RATE)) == right_delay - left_delay


def test_a_set_measured_at_another_rate_is_resampled_so_the_delay_stays_in_seconds(tmp_path):
    hrir = read_sofa(write_sofa(tmp_path / "set.sofa", sample_rate=22050))
    out = binaural(_noise(4, 3000), hrir, 90.0, 0.0, RATE)
    assert abs(_lag(out) - 2 * 12) <= 1  # 12 samples at 22.05 kHz are 24 at 44.1 kHz


def test_the_file_digest_names_the_set(tmp_path):
    first = read_sofa(write_sofa(tmp_path / "a.sofa"))
    assert first.sha256 == read_sofa(write_sofa(tmp_path / "b.sofa")).sha256
    assert first.sha256 != read_sofa(write_sofa(tmp_path / "c.sofa", sample_rate=48000)).sha256


def test_bad_sofa_files_are_one_clear_error(tmp_path):
    import h5py

    text = tmp_path / "notes.sofa"
    text.write_text("not a SOFA file")
    with pytest.raises(UserError, match="notes.sofa is not readable as SOFA") as error:
        read_sofa(text)
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="does not exist"):
        read_sofa(tmp_path / "missing.sofa")
    with pytest.raises(UserError, match="convention 'GeneralFIR'"):
        read_sofa(write_sofa(tmp_path / "fir.sofa", convention="GeneralFIR"))
    empty = tmp_path / "empty.sofa"
    with h5py.File(empty, "w") as sofa:
        sofa["SourcePosition"] = np.zeros((1, 3))
    with pytest.raises(UserError, match="has no Data.IR"):
        read_sofa(empty)
    mono = tmp_path / "mono.sofa"
    with h5py.File(mono, "w") as sofa:
        sofa["Data.IR"] = np.zeros((2, 1, 8))
        sofa["Data.SamplingRate"] = np.array([44100.0])
        sofa["SourcePosition"] = np.zeros((2, 3))
    with pytest.raises(UserError, match=r"Data.IR of shape \(2, 1, 8\)"):
        read_sofa(mono)
