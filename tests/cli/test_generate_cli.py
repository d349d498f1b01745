"""`distill generate` on a model packaged from real tiny runs: files, rates, variations, errors."""

import json
import re
from pathlib import Path

import pytest
import soundfile as sf
from conftest import package_trained
from typer.testing import CliRunner

from distill.bundle.catalog import ModelLibrary
from distill.bundle.package import package_runs
from distill.cli.main import app
from distill.model import DistillModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(trained_runs, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("library")
    package_trained(trained_runs, name="tiny", library=root)
    package_runs(vqvae=trained_runs["vqvae"], name="no-prior", library=root)
    # The same model as if its vocoder had measured poorly on its held-out files.
    model = DistillModel.load("tiny", library=root)
    model.metadata["vocoder"]["quality"] = {"mel_l1": 0.95, "mstft": 3.9, "files": 1}
    model.metadata.update(id="poor0000" + model.metadata["id"][8:], name="poor")  # another model
    ModelLibrary(root=root).add(model.save(tmp_path_factory.mktemp("poor") / "poor.distillgan"), name="poor")
    return root


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_generate_writes_variations_at_the_requested_rate_with_sidecars(library, tmp_path):
    out = tmp_path / "out" / "hit.flac"
    result = run(
        "generate", "tiny", "--mode", "continuous", "--duration", "1.5", "--count", "2", "--seed", "5",
        "--sample-rate", "22050",
        "-o", str(out), "--plot", "--library", str(library),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    # Which vocoder, with its recorded held-out quality and why (the tiny one is the only choice).
    assert re.search(
        r"vocoder: Vocos \(the model's own\) \(M-STFT [\d.]+, mel L1 [\d.]+ on 1 held-out file\)", output
    )
    for index, seed in enumerate((5, 6)):
        path = tmp_path / "out" / f"hit-{index}.flac"
        info = sf.info(str(path))
        assert (info.samplerate, info.frames, info.channels) == (22050, round(1.5 * 22050), 1)
        sidecar = json.loads(Path(f"{path}.json").read_text())
        assert sidecar["metadata"]["generation"]["seed"] == seed
        assert sidecar["metadata"]["model"]["name"] == "tiny"
        assert path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_poorly_measured_vocoder_warns_once_with_what_to_do(library, tmp_path):
    result = run(
        "generate",
        "poor",
        "-d",
        "0.5",
        "--count",
        "2",
        "-o",
        str(tmp_path / "p.wav"),
        "--library",
        str(library),
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "renders poorly (mel L1 0.95 on its held-out files; good is below 0.5)" in output
    assert "train it longer" in output and output.count("renders poorly") == 1  # once, not per file


def test_same_seed_writes_the_same_file(library, tmp_path):
    for name in ("a.wav", "b.wav"):
        result = run(
            "generate",
            "tiny",
            "-d",
            "1",
            "--seed",
            "2",
            "-o",
            str(tmp_path / name),
            "--library",
            str(library),
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tiny", "--duration", "-1"], "duration must be"),
        (["tiny", "--mode", "loop"], "mode must be one of one-shot, continuous, got 'loop'"),
        (["tiny", "--temperature", "0"], "temperature must be"),
        (["tiny", "--top-p", "1.5"], "top-p must be"),
        (["tiny", "--count", "0"], "--count must be"),
        (["tiny", "--vocoder", "nonsense"], "Unknown vocoder"),
        (["tiny", "--sample-rate", "-5"], "sample rate"),
        (["missing-model"], "no model 'missing-model'"),
        (["no-prior"], "has no prior.*distill train-prior"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(library, tmp_path, args, message):
    result = run("generate", *args, "-o", str(tmp_path / "x.wav"), "--library", str(library))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert re.search(message, lines[0], flags=re.IGNORECASE), lines[0]
    assert not (tmp_path / "x.wav").exists()


def test_one_shots_by_default_for_a_collection_of_short_sounds(library, tmp_path):
    # The tiny collection's files are 1.0-1.2 s: one-shots, each at most 1.5 x the longest file.
    result = run(
        "generate", "tiny", "--count", "3", "-o", str(tmp_path / "hit.wav"), "--library", str(library)
    )
    assert result.exit_code == 0, result.output
    assert "mode: one-shot" in result.output
    longest = DistillModel.load("tiny", library=library).sounds.max_s  # in whole mel frames
    for index in range(3):
        path = tmp_path / f"hit-{index}.wav"
        assert 0 < sf.info(str(path)).duration <= 1.5 * longest + 1e-3
        assert json.loads(Path(f"{path}.json").read_text())["metadata"]["generation"]["mode"] == "one-shot"


def test_memorization_check_on_demand(library, trained_runs, tmp_path):
    result = run("memorization", "tiny", "--samples", "2", "--library", str(library))
    assert result.exit_code == 0, result.output
    assert "nearest-window similarity" in result.output and "held-out clips" in result.output
    missing = run("memorization", "tiny", "--data", str(tmp_path), "--library", str(library))
    assert missing.exit_code == 2 and "None of tiny's training files were found" in missing.output
