"""`distill generate --stereo / --pan / --binaural`: two channels, a mono-safe width, the interaural
delay of the HRTF set, remade bit for bit from the sidecar, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tiny_library import tiny_library
from typer.testing import CliRunner

from distill.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "audio"))
from sofa_file import DELAYS, write_sofa  # noqa: E402


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib")


def run(*args) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def make(library: Path, out: Path, *options) -> np.ndarray:
    result = run("generate", "tiny", "--mode", "continuous", "-d", "1", "--seed", "3", *options, "-o", out,
                 "--library", library, "--sample-rate", "44100", "--subtype", "float")  # fmt: skip
    assert result.exit_code == 0, result.output
    samples, rate = sf.read(str(out), dtype="float64", always_2d=True)
    assert rate == 44100
    return samples


def band_power(samples: np.ndarray, n_fft: int = 1024) -> np.ndarray:
    """Time-averaged power per frequency bin (narrow bins: a comb filter's notches would show)."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[:: n_fft // 2] * np.hanning(n_fft)
    return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)


def test_stereo_width_writes_two_different_channels_whose_sum_is_the_mono_sound(library, tmp_path):
    mono = make(library, tmp_path / "mono.wav")
    stereo = make(library, tmp_path / "wide.wav", "--stereo", "0.8")
    assert mono.shape[1] == 1 and stereo.shape == (mono.shape[0], 2)
    left, right = stereo[:, 0], stereo[:, 1]
    # Two channels (how far apart they are depends on the model's fine levels: tests/generation).
    assert not np.array_equal(left, right)
    # Folded to mono (left + right) it is the mono sound up to the export's one gain: no notch.
    folded = (left + right) / 2
    gain = np.dot(folded, mono[:, 0]) / np.dot(mono[:, 0], mono[:, 0])
    np.testing.assert_allclose(folded, gain * mono[:, 0], atol=1e-5)
    reference = band_power(mono[:, 0])
    audible = reference > reference.max() * 1e-6
    depth_db = 10 * np.log10(band_power(folded)[audible] / (gain**2 * reference[audible]))
    assert depth_db.min() > -6.0
    sidecar = json.loads(Path(f"{tmp_path / 'wide.wav'}.json").read_text())
    assert sidecar["metadata"]["generation"]["stereo"] == 0.8 and sidecar["source"]["channels"] == 2
    assert "stereo" in run("generate", "tiny", "-d", "0.5", "--stereo", "0.5", "-o", tmp_path / "x.wav",
                           "--library", library).output  # fmt: skip


def test_pan_places_the_sound(library, tmp_path):
    hard_left = make(library, tmp_path / "left.wav", "--pan", "-1")
    assert np.abs(hard_left[:, 1]).max() < 1e-6 < np.abs(hard_left[:, 0]).max()
    right_of_centre = make(library, tmp_path / "right.wav", "--pan", "0.5")
    assert np.sum(right_of_centre[:, 1] ** 2) > 2 * np.sum(right_of_centre[:, 0] ** 2)


def test_binaural_gives_the_interaural_delay_of_the_hrtf_set(library, tmp_path):
    sofa = write_sofa(tmp_path / "head.sofa")
    out = make(library, tmp_path / "bin.wav", "--binaural", "90,0", "--hrtf", sofa)
    left, right = out[:, 0], out[:, 1]
    lag = int(np.argmax(np.correlate(right, left, mode="full"))) - (len(left) - 1)
    expected = DELAYS[(90.0, 0.0)][1] - DELAYS[(90.0, 0.0)][0]
    assert abs(lag - expected) <= 1
    assert np.sum(right**2) < np.sum(left**2)  # the far ear is quieter in this set


@pytest.mark.parametrize(
    "options",
    [["--stereo", "0.7", "--pan", "0.3"], ["--binaural", "-90,0", "--hrtf", "{sofa}"]],
)
def test_a_spatial_sound_is_remade_byte_for_byte_from_its_sidecar(library, tmp_path, options):
    sofa = write_sofa(tmp_path / "head.sofa")
    options = [str(option).replace("{sofa}", str(sofa)) for option in options]
    first = tmp_path / "first.wav"
    assert run("generate", "tiny", "-d", "0.8", *options, "-o", first, "--library", library).exit_code == 0
    again = tmp_path / "again.wav"
    result = run("generate", "--from", f"{first}.json", "-o", again, "--library", library)
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == first.read_bytes() and "differs" not in result.output


def test_a_changed_hrtf_file_is_refused_when_remaking(library, tmp_path):
    sofa = write_sofa(tmp_path / "head.sofa")
    first = tmp_path / "first.wav"
    made = run("generate", "tiny", "-d", "0.5", "--binaural", "90,0", "--hrtf", sofa, "-o", first,
               "--library", library)  # fmt: skip
    assert made.exit_code == 0, made.output
    write_sofa(sofa, sample_rate=48000)  # other responses under the same name
    result = run("generate", "--from", f"{first}.json", "-o", tmp_path / "again.wav", "--library", library)
    assert result.exit_code == 2 and "is not the one this sound was made with" in result.output
    assert not (tmp_path / "again.wav").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stereo", "2"], "stereo width must be in"),
        (["--stereo", "nan"], "stereo width must be in"),
        (["--pan", "-3"], "pan must be in"),
        (["--binaural", "90"], "--binaural takes AZIMUTH,ELEVATION"),
        (["--binaural", "left,up"], "--binaural takes AZIMUTH,ELEVATION"),
        (["--binaural", "0,100", "--hrtf", "{sofa}"], "elevation in"),
        (["--binaural", "90,0"], "--binaural needs --hrtf"),
        (["--hrtf", "{sofa}"], "only used with --binaural"),
        (["--binaural", "90,0", "--hrtf", "{sofa}", "--stereo", "0.5"], "without --stereo or --pan"),
        (["--binaural", "90,0", "--hrtf", "{missing}"], "HRTF file .*missing.sofa does not exist"),
        (["--binaural", "90,0", "--hrtf", "{text}"], "text.sofa is not readable as SOFA"),
    ],
)
def test_bad_spatial_options_are_one_line_and_exit_code_2(library, tmp_path, args, message):
    import re

    text = tmp_path / "text.sofa"
    text.write_text("not HDF5")
    names = {
        "{sofa}": write_sofa(tmp_path / "head.sofa"),
        "{missing}": tmp_path / "missing.sofa",
        "{text}": text,
    }
    args = [str(names.get(arg, arg)) for arg in args]
    result = run("generate", "tiny", "-d", "0.5", *args, "-o", tmp_path / "x.wav", "--library", library)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "x.wav").exists()
