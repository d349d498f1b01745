"""`distill blend A B`: files with sidecars naming both models, remade bit for bit with
`distill generate --from`, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile as sf
from tiny_library import tiny_library
from typer.testing import CliRunner

from distill import DistillModel
from distill.cli.main import app
from distill.errors import UserError


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib", ("tiny", "other"))


def run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize(
    "options",
    [["-w", "0.3"], ["--curve", "0:0,0.5:1,1:0.2", "--how", "resynth"], ["--count", "2", "-w", "1"]],
)
def test_blend_writes_sounds_whose_sidecars_remake_them(library, tmp_path, options):
    out = tmp_path / "blend.wav"
    result = run("blend", "tiny", "other", "--mode", "continuous", "-d", "0.8", *options, "-o", out,
                 "--library", library)  # fmt: skip
    assert result.exit_code == 0, result.output
    written = sorted(tmp_path.glob("blend*.wav"))
    assert len(written) == (2 if "--count" in options else 1)
    for path in written:
        assert sf.info(str(path)).frames == round(0.8 * 48000)
        sidecar = json.loads(Path(f"{path}.json").read_text())
        assert sidecar["metadata"]["model"]["name"] == "tiny"
        assert sidecar["metadata"]["blend"]["second"]["name"] == "other"
        again = tmp_path / "again" / path.name
        remade = run("generate", "--from", f"{path}.json", "-o", again, "--library", library)
        assert remade.exit_code == 0, remade.output
        assert again.read_bytes() == path.read_bytes() and "differs" not in remade.output


def test_a_blend_is_not_remade_by_one_model_alone(library, tmp_path):
    out = tmp_path / "b.wav"
    assert run("blend", "tiny", "other", "-d", "0.5", "-o", out, "--library", library).exit_code == 0
    with pytest.raises(UserError, match="blend of two models"):
        DistillModel.load("tiny", library=library).remake(f"{out}.json")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tiny", "other", "-w", "2"], "blend weight must be in"),
        (["tiny", "other", "--curve", "0:0"], "two or more TIME:WEIGHT"),
        (["tiny", "other", "--curve", "start:end"], "--curve takes TIME:WEIGHT"),
        (["tiny", "other", "--how", "average"], "one of mix, resynth"),
        (["tiny", "missing"], "no model 'missing'"),
        (["tiny", "other", "-d", "-1"], "duration must be"),
    ],
)
def test_bad_blend_input_is_one_line_and_exit_code_2(library, tmp_path, args, message):
    result = run("blend", *args, "-o", tmp_path / "x.wav", "--library", library)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert re.search(message, lines[0], flags=re.IGNORECASE), lines[0]
    assert not (tmp_path / "x.wav").exists()
