"""`distill generate` with controls and `--notes`: each flag reaches the sound and its sidecar, a
sample set gets its SFZ, and every request a model cannot honour is one line, exit 2, no file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_in_process import run_distill
from tiny_library import tiny_model_file
from tiny_model import TINY_CONTROLS

from distill.generation.sample_set import sfz_text


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    drums = {name: span for name, span in TINY_CONTROLS.items() if name != "pitch"}
    return {
        "piano": tiny_model_file(folder / "piano.distillgan", name="piano", controls=TINY_CONTROLS),
        "drums": tiny_model_file(folder / "drums.distillgan", name="drums", controls=drums),
        "plain": tiny_model_file(folder / "plain.distillgan", name="plain"),
    }


def generate(model: Path, out: Path, *more: str):
    return run_distill(["generate", str(model), "--mode", "continuous", "-d", "0.4", "-o", str(out), *more])


def test_each_control_flag_is_recorded_and_remade(models, tmp_path):
    out = tmp_path / "bright.wav"
    flags = [
        "--loudness",
        "-18dB",
        "--brightness",
        "0.8",
        "--length",
        "0.5s",
        "--noisiness",
        "0.1",
        "--pitch",
        "A3",
        "--guidance",
        "2",
    ]
    result = generate(models["piano"], out, *flags)
    assert result.exit_code == 0, result.output
    recorded = json.loads(Path(f"{out}.json").read_text())["metadata"]["generation"]["controls"]
    assert recorded == {
        "loudness": "-18dB",
        "brightness": 0.8,
        "length": "0.5s",
        "noisiness": 0.1,
        "pitch": "A3",
    }
    assert json.loads(Path(f"{out}.json").read_text())["metadata"]["generation"]["guidance"] == 2.0
    again = tmp_path / "again.wav"
    assert run_distill(["generate", "--from", f"{out}.json", "-o", str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()
    plain = tmp_path / "plain.wav"
    assert generate(models["piano"], plain).exit_code == 0
    assert plain.read_bytes() != out.read_bytes()


def test_candidates_are_recorded_with_what_the_kept_draw_measured(models, tmp_path):
    out = tmp_path / "chosen.wav"
    result = generate(models["drums"], out, "--brightness", "0.9", "--candidates", "3")
    assert result.exit_code == 0, result.output
    metadata = json.loads(Path(f"{out}.json").read_text())["metadata"]
    assert metadata["generation"]["candidates"] == 3
    chosen = metadata["controls_chosen"]
    assert chosen["draws"] == 3 and 0 <= chosen["kept"] < 3
    assert re.fullmatch(r"\d+ Hz", chosen["measured"]["brightness"])
    # Without --candidates, a request is chosen among the default number of draws.
    default = tmp_path / "default.wav"
    assert generate(models["drums"], default, "--brightness", "0.9").exit_code == 0
    assert json.loads(Path(f"{default}.json").read_text())["metadata"]["generation"]["candidates"] == 8


def test_notes_write_one_sound_per_key_and_an_sfz_that_maps_them(models, tmp_path):
    keys = tmp_path / "keys"
    result = run_distill(
        ["generate", str(models["piano"]), "--notes", "C3..D3", "-d", "0.4", "-o", str(keys)]
    )
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in keys.glob("*.wav"))
    assert names == ["piano-048-C3.wav", "piano-049-Cs3.wav", "piano-050-D3.wav"]
    for name, note in zip(names, ("C3", "C#3", "D3"), strict=True):
        assert json.loads((keys / f"{name}.json").read_text())["metadata"]["generation"]["controls"] == {
            "pitch": note
        }
    sfz = (keys / "piano.sfz").read_text()
    regions = re.findall(r"sample=(\S+) lokey=(\d+) hikey=(\d+) pitch_keycenter=(\d+)", sfz)
    assert regions == [
        (names[0], "48", "48", "48"),
        (names[1], "49", "49", "49"),
        (names[2], "50", "50", "50"),
    ]


def test_an_sfz_of_spread_keys_covers_the_gaps_between_them():
    text = sfz_text([(60, "c.wav"), (48, "a.wav"), (52, "b.wav")])
    regions = re.findall(r"sample=(\S+) lokey=(\d+) hikey=(\d+) pitch_keycenter=(\d+)", text)
    assert regions == [("a.wav", "48", "50", "48"), ("b.wav", "51", "56", "52"), ("c.wav", "57", "60", "60")]


@pytest.mark.parametrize(
    ("model", "flags", "message"),
    [
        ("drums", ["--pitch", "C3"], "Model drums has no pitch control (its collection has no stable pitch)"),
        (
            "plain",
            ["--brightness", "0.5"],
            "Model plain was trained without controls, so it cannot take --brightness",
        ),
        ("piano", ["--pitch", "H2"], "'H2' is not a note: give a name such as C3"),
        ("piano", ["--pitch", "C8"], "--pitch C8 is outside what the collection spans (C3 to C5)"),
        ("piano", ["--loudness", "2"], "--loudness 2.0 is outside what the collection spans"),
        ("piano", ["--loudness", "nan"], "--loudness needs a number from 0 to 1"),
        ("piano", ["--noisiness", "3dB"], "no unit: give 0..1"),
        ("piano", ["--guidance", "-1"], "guidance must be a number from 0 to 10"),
        ("piano", ["--notes", "C5..C3"], "--notes C5..C3: the range must go up"),
        ("piano", ["--notes", "C3"], "--notes takes a range of keys such as C2..C5"),
        ("piano", ["--notes", "C3..D3", "--pitch", "C3"], "Give --notes or --pitch, not both"),
        (
            "piano",
            ["--notes", "C3..D3", "--count", "2"],
            "--notes makes one sound per key; it takes no --count",
        ),
        ("piano", ["--notes", "A5..C6"], "--pitch A5 is outside what the collection spans"),
        ("drums", ["--notes", "C3..D3"], "Model drums has no pitch control"),
        ("piano", ["--candidates", "3"], "--candidates chooses among draws by the controls asked"),
        (
            "piano",
            ["--pitch", "C4", "--tuning", "stretch"],
            "tuning must be one of decoder, rate, got 'stretch'",
        ),
        (
            "piano",
            ["--candidates", "0", "--loudness", "0.5"],
            "candidates must be a whole number from 1 to 64",
        ),
    ],
)
def test_a_request_it_cannot_honour_is_one_line_and_writes_nothing(models, tmp_path, model, flags, message):
    out = tmp_path / "out"
    result = generate(models[model], out / "x.wav", *flags)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output
    assert message in " ".join(result.output.split()), result.output
    assert not out.exists() or not any(out.iterdir())


def test_tuning_is_the_decoders_unless_asked_and_the_sidecar_keeps_it(models, tmp_path):
    for flags, expected in (([], "decoder"), (["--tuning", "rate"], "rate")):
        out = tmp_path / f"{expected}.wav"
        result = generate(models["piano"], out, "--pitch", "C4", "--candidates", "2", *flags)
        assert result.exit_code == 0, result.output
        assert json.loads(Path(f"{out}.json").read_text())["metadata"]["generation"]["tuning"] == expected


def test_models_info_lists_the_controls_with_the_collections_range(models):
    result = run_distill(["models", "info", str(models["piano"])])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert re.search(r"--loudness\W+0\.\.1 = -30\.0 dB to -10\.0 dB", text)
    assert re.search(r"--pitch\W+0\.\.1 = C3 to C5", text)
    assert text.index("--loudness") < text.index("--brightness") < text.index("--pitch")  # the prior's order
    drums = " ".join(run_distill(["models", "info", str(models["drums"])]).output.split())
    assert "--brightness" in drums and "--pitch" not in drums
    assert "Controls" not in " ".join(run_distill(["models", "info", str(models["plain"])]).output.split())
