"""The sidecar of `distill generate` and `distill generate --from`: the same file again, bit for bit.

A tiny packaged model (tiny_library.py) in a module-scoped library; tests that change a model
work on their own copy of the library.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_library import tiny_library, tiny_model_file
from typer.testing import CliRunner

from distill import __version__
from distill.bundle.catalog import ModelLibrary
from distill.bundle.format import content_digest, read_manifest
from distill.cli.main import app


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib", ("tiny", "drums"))


@pytest.fixture(scope="module")
def made(library, tmp_path_factory) -> Path:
    """One generated sound (seed 0, WAV) with its sidecar; tests copy it before changing anything."""
    path = tmp_path_factory.mktemp("made") / "a.wav"
    result = run("generate", "tiny", "-d", "0.5", "-o", path, "--library", library)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def sound(made, tmp_path) -> Path:
    """A copy of ``made`` and its sidecar in tmp_path."""
    for source in (made, Path(f"{made}.json")):
        shutil.copy(source, tmp_path / source.name)
    return tmp_path / made.name


def run(*args: str):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def copy_library(library: Path, root: Path) -> Path:
    shutil.copytree(library, root)
    for index in root.glob("catalog.sqlite*"):  # rebuilt from the files at first use
        index.unlink()
    return root


def test_the_sidecar_names_the_vocoder_kind_the_model_file_and_the_versions_once(library, made):
    text = Path(f"{made}.json").read_text()
    sidecar = json.loads(text)
    model_file = ModelLibrary(root=library).resolve("tiny")
    assert sidecar["metadata"]["model"]["sha256"] == sha256(model_file)
    assert sidecar["metadata"]["model"]["content_sha256"] == content_digest(read_manifest(model_file))
    assert sidecar["metadata"]["model"]["file"] == str(model_file.resolve())
    assert sidecar["metadata"]["vocoder_used"]["kind"] == "hifigan"  # the kind, not a class name
    assert "versions" not in sidecar["metadata"]
    assert sidecar["software"]["distill"] == __version__ and sidecar["software"]["torch"] == torch.__version__
    for once in (f'"{__version__}"', f'"{torch.__version__}"', sidecar["metadata"]["model"]["sha256"]):
        assert text.count(once) == 1, once


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("take.wav", ["--seed", "7", "--temperature", "0.8", "--top-k", "5"]),
        ("take.flac", ["--seed", "9", "--subtype", "pcm16", "--sample-rate", "22050", "--peak", "normalize"]),
        ("varied.wav", ["--seed", "7", "--variation", "3"]),
    ],
)
def test_from_remakes_the_file_byte_for_byte(library, tmp_path, name, options):
    first = tmp_path / name
    made = run("generate", "tiny", "-d", "1", *options, "-o", first, "--library", library)
    assert made.exit_code == 0, made.output
    again = tmp_path / "again" / name
    result = run("generate", "--from", f"{first}.json", "-o", again, "--library", library)
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == first.read_bytes()
    assert "differs" not in result.output
    remade = json.loads(Path(f"{again}.json").read_text())
    assert remade["sha256"] == json.loads(Path(f"{first}.json").read_text())["sha256"] == sha256(again)


def test_another_seed_is_another_file(library, made, tmp_path):
    # Else "byte for byte" above would prove nothing: the seed decides the sound.
    result = run(
        "generate", "tiny", "-d", "0.5", "--seed", "1", "-o", tmp_path / "b.wav", "--library", library
    )
    assert result.exit_code == 0 and (tmp_path / "b.wav").read_bytes() != made.read_bytes()


def test_from_finds_the_model_by_its_id_in_another_library_under_another_name(library, sound, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "models").mkdir()
    shutil.copy(ModelLibrary(root=library).resolve("tiny"), moved / "models" / "renamed.distillgan")
    sidecar = Path(f"{sound}.json")
    data = json.loads(sidecar.read_text())
    data["metadata"]["model"]["file"] = str(tmp_path / "gone.distillgan")  # the old path is gone too
    sidecar.write_text(json.dumps(data))
    result = run("generate", "--from", sidecar, "-o", tmp_path / "b.wav", "--library", moved)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.wav").read_bytes() == sound.read_bytes()


def test_metadata_changes_still_remake_but_other_weights_are_one_error(library, tmp_path):
    own = copy_library(library, tmp_path / "lib")
    assert run("generate", "tiny", "-d", "0.5", "-o", tmp_path / "a.wav", "--library", own).exit_code == 0
    # Tags (or a recorded evaluation) rewrite the file, so its sha256 changes; its weights do not.
    ModelLibrary(root=own).tag("tiny", ["retagged"])
    result = run("generate", "--from", tmp_path / "a.wav", "-o", tmp_path / "b.wav", "--library", own)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.wav").read_bytes() == (tmp_path / "a.wav").read_bytes()
    # The same name with other weights cannot remake it.
    retrained = tiny_model_file(tmp_path / "other.distillgan", name="tiny", seed=5)
    shutil.copy(retrained, own / "models" / "tiny.distillgan")
    for index in own.glob("catalog.sqlite*"):
        index.unlink()
    result = run("generate", "--from", tmp_path / "a.wav", "-o", tmp_path / "c.wav", "--library", own)
    line = one_error_line(result)
    assert "tiny.distillgan is not the one that made the sound" in line and "bit for bit" in line
    assert not (tmp_path / "c.wav").exists()
    (own / "models" / "tiny.distillgan").unlink()  # and a model that is nowhere
    gone = one_error_line(run("generate", "--from", tmp_path / "a.wav", "-o", tmp_path / "c.wav",
                              "--library", own))  # fmt: skip
    assert "No model 'tiny'" in gone and "distill models add" in gone


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (None, "No sidecar file"),
        (lambda text: text[: len(text) // 2], "not readable JSON"),
        (lambda text: text.replace('"model"', '"modle"'), "records no model"),
        (lambda text: text.replace('"generation"', '"generashun"'), "no usable generation parameters"),
        (lambda text: text.replace('"seed": 0', '"seed": "zero"'), "seed must be a whole number"),
        (lambda text: text.replace('"sample_rate": 48000', '"sample_rate": 4'), "sample rate 4"),
    ],
)
def test_a_damaged_or_missing_sidecar_is_one_error_line(library, sound, tmp_path, damage, message):
    sidecar = Path(f"{sound}.json")
    if damage is None:
        sidecar.unlink()
    else:
        sidecar.write_text(damage(sidecar.read_text()))
    result = run("generate", "--from", sidecar, "-o", tmp_path / "b.wav", "--library", library)
    assert message in one_error_line(result)
    assert not (tmp_path / "b.wav").exists()


def test_from_takes_only_output_options_and_keeps_the_original(library, sound, tmp_path):
    sidecar = Path(f"{sound}.json")
    for args, message in [
        (["--seed", "3"], "takes no --seed"),
        (["-d", "2", "--count", "2"], "takes no --duration, --count"),
        (["tiny"], "either a MODEL ('tiny') or --from"),
        ([], "a.wav is still there; give -o"),  # never silently over the original
        (["-o", tmp_path / "b.flac"], "records a WAV file; name the output *.wav"),
    ]:
        assert message in one_error_line(run("generate", "--from", sidecar, *args, "--library", library))
    assert "Name a MODEL" in one_error_line(run("generate", "--library", library))


def test_an_unknown_model_name_suggests_the_likeliest_or_lists_them(library, tmp_path):
    out = ["-o", tmp_path / "x.wav", "--library", library]
    close = one_error_line(run("generate", "tinny", *out))
    assert re.search(r"has no model 'tinny'; did you mean 'tiny'\?$", close), close
    assert "did you mean 'drums'?" in one_error_line(run("models", "info", "Drum", "--library", library))
    listed = one_error_line(run("evaluate", "zzz", "--library", library))
    assert listed.endswith("has no model 'zzz'; available models: drums, tiny."), listed
    empty = one_error_line(run("models", "info", "zzz", "--library", tmp_path / "empty"))
    assert "has no models yet" in empty and "distill package" in empty
    assert not (tmp_path / "x.wav").exists()


def test_an_ogg_is_remade_to_the_same_samples_without_a_false_alarm(library, tmp_path):
    # libsndfile numbers each Ogg stream at random: the bytes differ, the decoded sound does not.
    first, again = tmp_path / "a.ogg", tmp_path / "b.ogg"
    assert run("generate", "tiny", "-d", "0.5", "-o", first, "--library", library).exit_code == 0
    result = run("generate", "--from", first, "-o", again, "--library", library)
    assert result.exit_code == 0, result.output
    assert "differs" not in result.output
    assert np.array_equal(sf.read(str(first))[0], sf.read(str(again))[0])


def test_variations_keep_the_sounds_coarse_codes_and_draw_the_finer_ones_again(library, tmp_path):
    made = run("generate", "tiny", "-d", "1", "--seed", "4", "-o", tmp_path / "s.wav", "--library", library)
    assert made.exit_code == 0, made.output
    varied = run(
        "generate", "tiny", "-d", "1", "--seed", "4", "--variation", "2", "--count", "2",
        "-o", tmp_path / "v.wav", "--library", library,
    )  # fmt: skip
    assert varied.exit_code == 0, varied.output
    written = sorted(tmp_path.glob("v-*.wav"))
    recorded = [json.loads(Path(f"{path}.json").read_text())["metadata"]["generation"] for path in written]
    assert [(r["seed"], r["variation"]) for r in recorded] == [(4, 2), (4, 3)]
    sounds = [sf.read(path)[0] for path in [tmp_path / "s.wav", *written]]
    assert all(sound.shape == sounds[0].shape for sound in sounds)  # the same sound's length
    assert not np.array_equal(sounds[0], sounds[1]) and not np.array_equal(sounds[1], sounds[2])


@pytest.mark.parametrize("value", ["-1", "1000001"])
def test_a_bad_variation_is_one_line(library, tmp_path, value):
    result = run("generate", "tiny", "--variation", value, "-o", tmp_path / "v.wav", "--library", library)
    assert "variation" in one_error_line(result).lower()
    assert not list(tmp_path.iterdir())
