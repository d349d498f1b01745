"""Export: formats and rates read back, exact lengths, peak safety, sidecar, atomic writes, bad values."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import soundfile as sf

import distill.generation.export as export_module
from distill.audio.io import resample
from distill.errors import UserError
from distill.generation.export import FORMATS, Audio, export_audio, output_paths
from distill.generation.sidecar import read_sidecar, sidecar_path

SR = 44100
METADATA = {"model": {"id": "abc123", "name": "drums"}, "seed": 7, "temperature": 1.0, "distill": "0.1.0"}


def tone(seconds: float = 0.25, *, amplitude: float = 0.5, freq: float = 440.0) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    return Audio(samples=amplitude * np.sin(2 * np.pi * freq * t), sample_rate=SR, metadata=METADATA)


def db(value: float) -> float:
    return 10.0 ** (value / 20.0)


@pytest.mark.parametrize(
    ("suffix", "subtype", "sf_subtype"),
    [(suffix, name, sf_name) for suffix, spec in FORMATS.items() for name, sf_name in spec.subtypes.items()],
)
def test_every_format_and_subtype_reads_back(tmp_path, suffix, subtype, sf_subtype):
    result = export_audio(tone(), tmp_path / f"out.{suffix}", subtype=subtype)
    data, rate = sf.read(result.path, dtype="float32")
    info = sf.info(result.path)
    assert (rate, info.subtype, info.channels) == (48000, sf_subtype, 1)
    assert len(data) == result.n_samples == round(len(tone().samples) * 48000 / SR)
    assert (result.format, result.subtype) == (suffix, subtype)
    # Lossless formats keep the waveform to within their quantisation step; Vorbis only roughly.
    reference = resample(tone().samples, SR, 48000)[: len(data)]
    tolerance = {"pcm16": 1e-4, "pcm24": 1e-6, "float": 1e-7, "vorbis": 0.1}[subtype]
    assert np.max(np.abs(data - reference)) < tolerance


def test_default_subtypes(tmp_path):
    assert export_audio(tone(), tmp_path / "a.wav").subtype == "pcm24"
    assert export_audio(tone(), tmp_path / "a.flac").subtype == "pcm24"
    assert export_audio(tone(), tmp_path / "a.ogg").subtype == "vorbis"
    assert sf.info(tmp_path / "a.wav").subtype == "PCM_24"


@pytest.mark.parametrize("rate", [48000, 22050, 44100, 96000, 8000])
@pytest.mark.parametrize("n", [1, 7, 12345, 44100])
def test_resampled_length_is_exact(tmp_path, rate, n):
    audio = Audio(samples=np.full(n, 0.1, dtype=np.float32), sample_rate=SR)
    expected = math.floor(n * rate / SR + 0.5)
    if expected == 0:
        with pytest.raises(UserError, match="shorter than one sample"):
            export_audio(audio, tmp_path / "x.wav", sample_rate=rate)
        return
    result = export_audio(audio, tmp_path / "x.wav", sample_rate=rate, subtype="float")
    data, read_rate = sf.read(result.path)
    assert (len(data), read_rate, result.n_samples) == (expected, rate, expected)
    assert result.duration_s == pytest.approx(expected / rate)


def test_limit_scales_a_hot_signal_to_the_ceiling(tmp_path):
    result = export_audio(tone(amplitude=1.5), tmp_path / "hot.wav", subtype="float")
    data, _ = sf.read(result.path, dtype="float32")
    assert np.max(np.abs(data)) == pytest.approx(db(-1.0), rel=1e-5)
    assert result.peak_in_dbfs == pytest.approx(20 * math.log10(1.5), abs=0.05)
    assert result.gain_db == pytest.approx(-1.0 - result.peak_in_dbfs)
    assert result.clip_samples_avoided > 0 and "would have clipped" in result.peak_report
    # A gain, not a clipper: the shape is the unclipped tone, scaled.
    reference = resample(tone(amplitude=1.5).samples, SR, 48000)[: len(data)]
    np.testing.assert_allclose(data, reference * db(result.gain_db), atol=1e-6)


def test_limit_leaves_a_quiet_signal_alone(tmp_path):
    result = export_audio(tone(amplitude=0.3), tmp_path / "quiet.wav", subtype="float", sample_rate=44100)
    data, _ = sf.read(result.path, dtype="float32")
    assert result.gain_db == 0.0 and result.peak_report is None and result.clip_samples_avoided == 0
    np.testing.assert_array_equal(data, tone(amplitude=0.3).samples)


@pytest.mark.parametrize("amplitude", [0.1, 1.5])
def test_normalize_hits_the_ceiling(tmp_path, amplitude):
    result = export_audio(
        tone(amplitude=amplitude), tmp_path / "n.flac", peak="normalize", peak_ceiling_db=-3.0
    )
    data, _ = sf.read(result.path, dtype="float32")
    assert np.max(np.abs(data)) == pytest.approx(db(-3.0), abs=1e-5)
    assert result.peak_out_dbfs == pytest.approx(-3.0, abs=1e-4)


def test_normalize_writes_silence_as_silence(tmp_path):
    silent = Audio(samples=np.zeros(1000, dtype=np.float32), sample_rate=SR)
    result = export_audio(silent, tmp_path / "s.wav", peak="normalize")
    assert result.peak_in_dbfs is None and result.gain_db == 0.0
    assert not np.any(sf.read(result.path)[0])
    assert json.loads(result.sidecar_path.read_text())["result"]["peak_in_dbfs"] is None


def test_none_refuses_a_clipping_signal_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="would clip"):
        export_audio(tone(amplitude=1.5), tmp_path / "clip.wav", peak="none")
    assert list(tmp_path.iterdir()) == []


def test_none_writes_a_safe_signal_untouched(tmp_path):
    result = export_audio(
        tone(amplitude=0.95), tmp_path / "ok.wav", peak="none", subtype="float", sample_rate=SR
    )
    assert result.gain_db == 0.0
    np.testing.assert_array_equal(sf.read(result.path, dtype="float32")[0], tone(amplitude=0.95).samples)


def test_resampling_overshoot_is_caught(tmp_path):
    # A full-scale square wave: band-limited resampling rings past +-1 at every edge (Gibbs).
    square = np.where((np.arange(SR // 4) // 50) % 2 == 0, 1.0, -1.0).astype(np.float32)
    audio = Audio(samples=square, sample_rate=SR)
    with pytest.raises(UserError, match="after resampling to 48000 Hz"):
        export_audio(audio, tmp_path / "sq.wav", peak="none")
    result = export_audio(audio, tmp_path / "sq.wav", subtype="float")
    assert result.peak_in_dbfs > 0.0 and result.clip_samples_avoided > 0
    assert np.max(np.abs(sf.read(result.path)[0])) <= db(-1.0) + 1e-6


def test_sidecar_round_trips_and_reproduces_the_file(tmp_path):
    audio = tone(amplitude=1.2)
    result = export_audio(audio, tmp_path / "take.flac", sample_rate=22050, subtype="pcm16")
    assert result.sidecar_path == tmp_path / "take.flac.json" == sidecar_path(result.path)
    raw = json.loads(result.sidecar_path.read_text())
    assert raw["metadata"] == METADATA
    assert raw["sha256"] == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert raw["source"] == {"sample_rate": SR, "n_samples": len(audio.samples), "channels": 1}
    assert raw["result"]["gain_db"] == pytest.approx(result.gain_db) and result.gain_db < 0

    side = read_sidecar(result.path)
    assert side.metadata == METADATA and side.audio_file == "take.flac"
    expected = dict(sample_rate=22050, format="flac", subtype="pcm16", peak="limit", peak_ceiling_db=-1.0)
    assert side.export_options == expected
    again = export_audio(
        Audio(samples=audio.samples, sample_rate=SR, metadata=side.metadata),
        tmp_path / "again.flac",
        **side.export_options,
    )
    assert again.path.read_bytes() == result.path.read_bytes()


def test_float_wav_has_no_timestamped_peak_chunk(tmp_path):
    # libsndfile stamps float WAVs with the wall-clock time in a PEAK chunk, so two exports of one
    # sound would differ; export drops that chunk and keeps the RIFF header consistent.
    plain = tmp_path / "plain.wav"
    sf.write(plain, tone().samples, 48000, subtype="FLOAT")
    assert b"PEAK" in plain.read_bytes()
    data = export_audio(tone(), tmp_path / "a.wav", subtype="float").path.read_bytes()
    assert b"PEAK" not in data
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    assert sf.info(tmp_path / "a.wav").frames == 12000


def test_no_sidecar_when_disabled(tmp_path):
    result = export_audio(tone(), tmp_path / "a.ogg", sidecar=False)
    assert result.sidecar_path is None and sorted(p.name for p in tmp_path.iterdir()) == ["a.ogg"]


def test_save_creates_parent_folders_and_appends_an_explicit_format(tmp_path):
    result = tone().save(tmp_path / "deep" / "er" / "out", format="FLAC")
    assert result.path == tmp_path / "deep" / "er" / "out.flac" and result.path.is_file()
    assert tone().duration_s == pytest.approx(0.25)


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"

    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", failing_write)
    with pytest.raises(OSError, match="disk full"):
        export_audio(tone(), target)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.undo()
    export_audio(tone(amplitude=0.2), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr("os.fsync", failing_write)
    with pytest.raises(OSError, match="disk full"):
        export_audio(tone(amplitude=0.4), target)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_an_encoding_failure_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "out.wav").write_bytes(b"old")

    def broken_encoder(*args):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(export_module, "_encode", broken_encoder)
    with pytest.raises(RuntimeError):
        export_audio(tone(), tmp_path / "out.wav")
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    assert (tmp_path / "out.wav").read_bytes() == b"old"


@pytest.mark.parametrize(
    ("options", "name", "message"),
    [
        ({"sample_rate": 0}, "x.wav", "sample rate 0"),
        ({"sample_rate": -48000}, "x.wav", "sample rate -48000"),
        ({"sample_rate": 48}, "x.wav", "sample rate 48 "),
        ({"sample_rate": 10_000_000}, "x.wav", "sample rate 10000000"),
        ({"sample_rate": 48000.5}, "x.wav", "sample rate 48000.5"),
        ({}, "x.mp3", "suffix '.mp3'"),
        ({}, "x", "no suffix"),
        ({"format": "aiff"}, "x", "Unknown audio format 'aiff'"),
        ({"format": "flac"}, "x.wav", "does not match the format 'flac'"),
        ({"subtype": "float"}, "x.flac", "'float' is not available for FLAC"),
        ({"subtype": "pcm16"}, "x.ogg", "'pcm16' is not available for OGG"),
        ({"subtype": "pcm8"}, "x.wav", "'pcm8' is not available for WAV"),
        ({"peak": "clip"}, "x.wav", "Unknown peak mode 'clip'"),
        ({"peak_ceiling_db": 3.0}, "x.wav", "peak ceiling 3.0"),
        ({"peak_ceiling_db": float("nan")}, "x.wav", "peak ceiling nan"),
    ],
)
def test_bad_values_raise_one_sentence(tmp_path, options, name, message):
    with pytest.raises(UserError, match=message) as caught:
        export_audio(tone(), tmp_path / name, **options)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros(0), "empty"),
        (np.array([0.1, np.nan, 0.2]), "NaN"),
        (np.array([np.inf, 0.0]), "NaN or infinite"),
    ],
)
def test_bad_samples_raise(tmp_path, samples, message):
    with pytest.raises(UserError, match=message):
        export_audio(Audio(samples=samples, sample_rate=SR), tmp_path / "x.wav")


def test_output_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError, match="out.wav: a part of the path is a file, not a folder"):
        export_audio(tone(), tmp_path / "file" / "out.wav")
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["file"]


def test_audio_validates_and_copies_its_inputs():
    metadata = {"seed": 1}
    audio = Audio(samples=[0.0, 0.5], sample_rate=SR, metadata=metadata)
    metadata["seed"] = 2
    assert audio.metadata == {"seed": 1} and audio.samples.dtype == np.float32
    with pytest.raises(ValueError, match="mono"):
        Audio(samples=np.zeros((2, 10)), sample_rate=SR)
    with pytest.raises(ValueError, match="positive"):
        Audio(samples=np.zeros(10), sample_rate=0)
    with pytest.raises(ValueError, match="JSON"):
        Audio(samples=np.zeros(10), sample_rate=SR, metadata={"bad": object()})
    with pytest.raises(ValueError, match="JSON"):
        Audio(samples=np.zeros(10), sample_rate=SR, metadata={"temperature": float("nan")})


def test_read_sidecar_refusals(tmp_path):
    with pytest.raises(UserError, match="No sidecar"):
        read_sidecar(tmp_path / "missing.wav")
    (tmp_path / "a.wav.json").write_text("{not json")
    with pytest.raises(UserError, match="not readable JSON"):
        read_sidecar(tmp_path / "a.wav")
    (tmp_path / "b.wav.json").write_text(json.dumps({"format": "distill-audio-sidecar", "version": 99}))
    with pytest.raises(UserError, match="upgrade distill"):
        read_sidecar(tmp_path / "b.wav.json")


def test_output_paths(tmp_path):
    assert output_paths(tmp_path / "out.wav", 1) == [tmp_path / "out.wav"]
    assert [p.name for p in output_paths(tmp_path / "out.wav", 3)] == ["out-0.wav", "out-1.wav", "out-2.wav"]
    names = [p.name for p in output_paths("take.v2.flac", 12)]
    assert names[0] == "take.v2-00.flac" and names[-1] == "take.v2-11.flac" and names == sorted(names)
    assert [p.name for p in output_paths("noext", 2)] == ["noext-0", "noext-1"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(UserError, match="count"):
            output_paths("out.wav", bad)


def test_stereo_is_resampled_per_channel_limited_by_one_gain_and_read_back_as_two_channels(tmp_path):
    left = tone(0.25, amplitude=1.4).samples  # would clip: one gain for both channels
    right = tone(0.25, amplitude=0.3, freq=1000.0).samples
    audio = Audio(samples=np.stack([left, right], axis=1), sample_rate=SR, metadata=METADATA)
    assert audio.channels == 2 and audio.duration_s == pytest.approx(0.25)
    result = export_audio(audio, tmp_path / "pair.wav", subtype="float")
    data, rate = sf.read(result.path, dtype="float32", always_2d=True)
    assert data.shape == (round(0.25 * 48000), 2) and rate == 48000
    np.testing.assert_allclose(np.abs(data).max(), db(-1.0), rtol=1e-4)
    gain = db(result.gain_db)
    np.testing.assert_allclose(data[:, 1], _fit(resample(right, SR, 48000), len(data)) * gain, atol=1e-4)
    assert json.loads(sidecar_path(result.path).read_text())["source"]["channels"] == 2
    with pytest.raises(ValueError, match=r"stereo \[T, 2\]"):
        Audio(samples=np.zeros((10, 3)), sample_rate=SR)


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    return samples[:n] if len(samples) >= n else np.pad(samples, (0, n - len(samples)))
