"""`distill encode / decode / codes show / edit` on a model packaged from real tiny runs."""

import numpy as np
import pytest
import soundfile as sf
from conftest import package_trained, write_tone
from typer.testing import CliRunner

from distill.cli.main import app
from distill.codes.editor import CodeEditor
from distill.codes.grid import CodeGrid
from distill.model import DistillModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(trained_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("codes-library")
    package_trained(trained_runs, name="tiny", library=root)
    return root


def _run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_encode_decode_show_and_edit_through_the_cli(library, tmp_path):
    sound = write_tone(tmp_path / "tone.wav", seconds=1.5)
    codes = tmp_path / "tone.codes"
    result = _run("encode", "tiny", sound, "-o", codes, "--library", library)
    assert result.exit_code == 0, result.output
    model = DistillModel.load("tiny", library=library)
    grid = CodeGrid.load(codes)
    assert grid == model.encode(sound) and f"{grid.columns} columns" in result.output

    # decode finds the model by the grid's VQ-VAE digest; the audio is the model's rendering
    wav = tmp_path / "back.wav"
    result = _run("decode", codes, "-o", wav, "--sample-rate", 44100, "--library", library)
    assert result.exit_code == 0, result.output
    written, rate = sf.read(wav, dtype="float32")
    rendered = model.render(grid).samples
    assert rate == 44100 and len(written) == len(rendered)
    assert np.abs(written - rendered).max() < 1e-3  # 24-bit PCM and the peak limiter only

    png = tmp_path / "grid.png"
    result = _run("codes", "show", codes, "-o", png, "--library", library)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    editor = CodeEditor(model, grid)
    editor.apply("loop", start=1, stop=3, times=2)
    editor.apply("infill", start=2, stop=4, seed=3, candidates=2)
    session = editor.save(tmp_path / "session.json")
    other = model.encode(write_tone(tmp_path / "other.wav", seconds=1.2, freq=660.0))
    other_codes = other.save(tmp_path / "other.codes")
    out = tmp_path / "edited.codes"
    result = _run("edit", other_codes, "--session", session, "-o", out, "--library", library)
    assert result.exit_code == 0, result.output
    expected = CodeEditor.load(session, model, start=other).grid
    assert CodeGrid.load(out) == expected and expected.columns == other.columns + 2


def _one_error_line(result, message):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_bad_input_is_one_line(library, tmp_path):
    sound = write_tone(tmp_path / "tone.wav", seconds=1.0)
    _one_error_line(_run("encode", "nobody", sound, "--library", library), "nobody")
    _one_error_line(_run("encode", "tiny", tmp_path / "none.wav", "--library", library), "none.wav")
    grid = DistillModel.load("tiny", library=library).encode(sound)
    stranger = CodeGrid(**{**grid.metadata(), "vqvae_digest": "f" * 64, "codes": grid.codes}).save(
        tmp_path / "x.codes"
    )
    _one_error_line(_run("decode", stranger, "--library", library), "no model in the library")
    _one_error_line(
        _run("decode", stranger, "--model", "tiny", "--library", library), "belongs to VQ-VAE ffffffffffff"
    )
    (tmp_path / "junk.codes").write_text("junk")
    _one_error_line(
        _run("codes", "show", tmp_path / "junk.codes", "--library", library), "not a code-grid file"
    )
    codes = grid.save(tmp_path / "tone.codes")
    model = DistillModel.load("tiny", library=library)
    session = CodeEditor(model, grid)
    session.apply("cut", start=0, stop=2)
    path = session.save(tmp_path / "session.json")
    short = grid.slice_columns(0, 1).save(tmp_path / "short.codes")
    _one_error_line(
        _run("edit", short, "--session", path, "-o", tmp_path / "o.codes", "--library", library),
        "outside the grid",
    )
    _one_error_line(
        _run(
            "edit",
            codes,
            "--session",
            tmp_path / "none.json",
            "-o",
            tmp_path / "o.codes",
            "--library",
            library,
        ),
        "no such edit session",
    )
