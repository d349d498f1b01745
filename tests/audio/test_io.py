from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_tone

from distill.audio.io import UnusableAudioError, is_audio_path, load_audio

SR = 44100


@pytest.mark.parametrize(
    ("name", "subtype"),
    [
        ("pcm16.wav", "PCM_16"),
        ("pcm24.wav", "PCM_24"),
        ("float.wav", "FLOAT"),
        ("lossless.flac", None),
        ("vorbis.ogg", None),
        ("lossy.mp3", None),
        ("apple.aiff", None),
    ],
)
def test_every_common_format_loads_as_mono_float32_at_44k(tmp_path: Path, name: str, subtype: str | None):
    path = write_tone(tmp_path / name, seconds=0.5, sample_rate=SR, subtype=subtype)
    loaded = load_audio(path, sample_rate=SR)
    assert loaded.samples.dtype == np.float32 and loaded.samples.ndim == 1
    assert loaded.duration_s == pytest.approx(0.5, abs=0.06)  # mp3 adds encoder delay


def test_multichannel_is_mixed_down_to_the_channel_mean(tmp_path: Path):
    data = np.stack([np.full(4410, 0.1 * (c + 1), np.float32) for c in range(8)], axis=1)
    sf.write(str(tmp_path / "eight.wav"), data, SR, subtype="FLOAT")
    loaded = load_audio(tmp_path / "eight.wav", sample_rate=SR)
    assert loaded.source_channels == 8
    assert np.allclose(loaded.samples, 0.45, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 192000])
def test_odd_rates_are_resampled_keeping_duration_and_pitch(tmp_path: Path, rate: int):
    path = write_tone(tmp_path / f"r{rate}.wav", seconds=1.0, sample_rate=rate, freq=1000.0, decay=0.0)
    loaded = load_audio(path, sample_rate=SR)
    assert loaded.source_rate == rate
    assert len(loaded.samples) == pytest.approx(SR, abs=2)
    spectrum = np.abs(np.fft.rfft(loaded.samples))
    assert np.argmax(spectrum) * SR / len(loaded.samples) == pytest.approx(1000.0, abs=2.0)


def test_unusable_files_raise_with_a_short_reason(tmp_path: Path):
    good = write_tone(tmp_path / "good.wav", seconds=0.5)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.wav").write_text("definitely not audio\n")
    (tmp_path / "zero.wav").write_bytes(b"")
    sf.write(str(tmp_path / "nosamples.wav"), np.zeros((0, 1), np.float32), SR)
    sf.write(str(tmp_path / "nan.wav"), np.array([0.1, np.nan, 0.2] * 100, np.float32), SR, subtype="FLOAT")
    sf.write(str(tmp_path / "silent.wav"), np.zeros(4410, np.float32), SR)
    expected = {
        "truncated.wav": "truncated",
        "text.wav": "not readable",
        "zero.wav": "empty",
        "nosamples.wav": "empty",
        "nan.wav": "NaN",
        "silent.wav": "silent",
    }
    for name, reason in expected.items():
        with pytest.raises(UnusableAudioError, match=reason) as caught:
            load_audio(tmp_path / name, sample_rate=SR)
        assert "\n" not in caught.value.reason


def test_audio_extensions():
    assert is_audio_path(Path("a/B.WAV")) and is_audio_path(Path("x.flac")) and is_audio_path(Path("y.aif"))
    assert not is_audio_path(Path("notes.txt")) and not is_audio_path(Path("wav"))
