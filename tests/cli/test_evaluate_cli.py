"""`distill evaluate` on a model packaged from real tiny runs: one table, recorded in the model file,
and what a listener notices first about the generated sound."""

import json
import re

import numpy as np
import pytest
from conftest import SHORT_RUN, TINY_VOCODER, compose, make_sound_folder, package_trained
from typer.testing import CliRunner

from distill.audio.level import not_sound
from distill.cli.main import app
from distill.evaluation.generation import evaluate_generation
from distill.model import DistillModel

pytestmark = pytest.mark.slow
WIDE = {"COLUMNS": "200"}  # the table's rows on one line each


@pytest.fixture(scope="module")
def model_file(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "tiny.distillgan"
    package_trained(trained_runs, name="tiny", output=out)
    return out


@pytest.fixture(scope="module")
def sounding_model(tmp_path_factory):
    """A small pipeline trained long enough to make sound: the demo's RVQ-VAE and prior settings
    (the session's debug-size RVQ-VAE, 3 steps long, decodes everything to the mel floor)."""
    from distill.train import train

    root = tmp_path_factory.mktemp("sounding")
    folder = make_sound_folder(root / "sounds", 8, seconds=1.0)
    common = [f"data.path={folder}", "data=small", f"paths.cache_dir={root / 'cache'}"]
    quiet = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    runs = {}
    for name, overrides in (
        ("vqvae", ["model=vqvae", "experiment=demo_vqvae", *quiet]),
        ("vocoder", [*TINY_VOCODER, *SHORT_RUN]),
        ("prior", ["model=prior", "experiment=demo_prior", f"model.vqvae={root / 'vqvae'}", *quiet]),
    ):
        train(compose([*common, *overrides], output_dir=root / name))
        runs[name] = root / name
    return package_trained(runs, name="sounding", output=root / "sounding.distillgan").path


def test_generated_sound_is_sound_and_closer_to_the_collection_than_noise(sounding_model):
    model = DistillModel.load(str(sounding_model))
    from distill.generation.params import GenerationParams
    from distill.generation.pipeline import run_generation

    for seed in range(3):
        samples = run_generation(model, GenerationParams(seed=seed)).audio.samples
        assert not_sound(samples) is None  # not silent, not a constant
        # No DC offset: the rendering is high-passed whole, so a one-shot cut from it keeps only the
        # mean of its own low partials (-58 dB of its peak measured here), not a constant offset.
        assert abs(float(samples.mean())) < 1e-2 * float(np.abs(samples).max())
    evaluation = evaluate_generation(model, count=4)
    assert evaluation.mode == "one-shot"
    assert evaluation.distance["generated"] < evaluation.distance["noise"]
    assert evaluation.resynthesis is not None and evaluation.resynthesis.files >= 1
    assert set(evaluation.shapes) == {"training", "held-out", "via codes", "generated"}
    # the held-out files resynthesised through the codes: measured, and closer than noise
    assert 0 < evaluation.distance["via codes"] < evaluation.distance["noise"]
    # Stage by stage on the pretrained embedding, every stage against the training files: the
    # vocoder's and the codes' renderings of the tones sit far closer to them than white noise.
    stages = evaluation.stages
    assert stages is not None and stages.reference == len(model.metadata["dataset"]["train_files"])
    assert set(stages.stages) == {
        "vocoder",
        "via codes",
        "held-out",
        "held-out via codes",
        "generated",
        "noise",
    }
    noise, vocoder = stages.stages["noise"], stages.stages["vocoder"]
    assert noise.kad > vocoder.kad and noise.kad > stages.stages["via codes"].kad
    assert noise.one_nn_accuracy > 0.9  # noise is told apart from tones
    assert stages.stages["generated"].n == 4 and stages.floor is not None
    heldout = stages.stages["held-out"]  # KAD needs two sounds a set: one held-out file has none
    assert heldout.n == len(model.metadata["dataset"]["val_files"]) and (heldout.n < 2) == (
        heldout.kad is None
    )


def test_evaluate_prints_one_table_and_records_it_in_the_model_file(model_file, tmp_path):
    result = CliRunner().invoke(
        app, ["evaluate", str(model_file), "--count", "3", "--json", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    for expected in (
        "Stage by stage",
        "training files via codes",
        "same collection, two halves (floor)",
        "copy check:",
        "Fréchet distance to training",
        "held-out",
        "via codes",
        "noise",
        "length, s",
        "crest factor",
        "memorization:",
    ):
        assert expected in output
    assert re.search(r"resynthesis of \d+ held-out file\(s\) .* mel L1 [\d.]+, M-STFT [\d.]+", output)
    recorded = DistillModel.load(str(model_file)).metadata["evaluation"]
    assert recorded == json.loads((tmp_path / "e.json").read_text())
    assert recorded["count"] == 3 and recorded["distance"]["noise"] > 0
    info = CliRunner().invoke(app, ["models", "info", str(model_file)], env=WIDE)
    assert (
        info.exit_code == 0
        and "Fréchet distance to training" in info.output
        and "default mode" in info.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "1"], "--count must be from 2 (a distribution needs several sounds) to 10000"),
        (["--mode", "burst"], "mode must be one of"),
    ],
)
def test_bad_input_is_one_line(model_file, args, message):
    result = CliRunner().invoke(app, ["evaluate", str(model_file), *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_package_can_evaluate_what_it_packaged(trained_runs, tmp_path):
    out = tmp_path / "evaluated.distillgan"
    result = CliRunner().invoke(
        app,
        [
            "package", "--vqvae", str(trained_runs["vqvae"]), "--prior", str(trained_runs["prior"]),
            "--vocoder", str(trained_runs["vocoder"]), "--name", "evaluated", "--output", str(out),
            "--evaluate", "2",
        ],
        env=WIDE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Fréchet distance to training" in " ".join(result.output.split())
    assert DistillModel.load(str(out)).metadata["evaluation"]["count"] == 2
