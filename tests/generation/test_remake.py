"""DistillModel.generate and DistillModel.remake: a saved sound's sidecar names the model file that
made it, and that model (only that one) makes the same file again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_library import tiny_library, tiny_model_file
from tiny_model import tiny_model

from distill import DistillModel, GenerationParams, generate
from distill.bundle.catalog import ModelLibrary
from distill.bundle.format import content_digest, read_manifest
from distill.errors import UserError
from distill.generation.remake import file_sha256, find_recorded_model, read_recorded


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib", ("tiny", "other"))


@pytest.fixture(scope="module")
def model(library) -> DistillModel:
    return DistillModel.load("tiny", library=library)


def test_generate_takes_params_with_settings_replaced_and_names_the_model_file(model, library):
    base = GenerationParams(duration_s=0.5, seed=1)
    result = model.generate(base, seed=2)
    assert result.params.seed == 2 and result.params.duration_s == 0.5
    assert np.array_equal(result.audio.samples, model.generate(duration_s=0.5, seed=2).audio.samples)
    assert np.array_equal(result.audio.samples, generate(model, 0.5, seed=2).samples)
    path = ModelLibrary(root=library).resolve("tiny")
    assert result.audio.metadata["model"] == {
        "id": model.id,
        "name": "tiny",
        "file": str(path.resolve()),
        "sha256": file_sha256(path),
        "content_sha256": content_digest(read_manifest(path)),
    }
    # A model built in memory has no file to name.
    assert set(tiny_model().generate(duration_s=0.2).audio.metadata["model"]) == {"id", "name"}


def test_remake_writes_the_same_file_and_finds_its_model(model, library, tmp_path):
    first = model.generate(duration_s=0.5, seed=4).audio.save(tmp_path / "a.flac", subtype="pcm16")
    recorded = read_recorded(first.path)  # the audio file: its sidecar is found beside it
    assert recorded.params.seed == 4 and recorded.params.vocoder == "bundled"  # the kind that rendered it
    assert recorded.sha256 == file_sha256(first.path)
    assert find_recorded_model(recorded, library=library) == ModelLibrary(root=library).resolve("tiny")
    again = model.remake(f"{first.path}.json").audio.save(tmp_path / "b.flac", **recorded.export)
    assert again.path.read_bytes() == first.path.read_bytes()


def test_remake_refuses_a_sound_of_another_model(model, library, tmp_path):
    other = DistillModel.load("other", library=library)
    sound = other.generate(duration_s=0.3).audio.save(tmp_path / "a.wav")
    with pytest.raises(
        UserError, match=r"tiny cannot remake the sound of .*a\.wav\.json: model other made it"
    ):
        model.remake(sound.path)
    with pytest.raises(UserError, match="not loaded from a file"):
        tiny_model().remake(sound.path)
    # The same name in another library with other weights is not the recorded model either.
    elsewhere = ModelLibrary(root=tmp_path / "lib")
    elsewhere.add(tiny_model_file(tmp_path / "x.distillgan", name="other", seed=7), name="other")
    data = json.loads(Path(f"{sound.path}.json").read_text())
    data["metadata"]["model"]["file"] = str(tmp_path / "gone.distillgan")
    Path(f"{sound.path}.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="is not the one that made the sound"):
        find_recorded_model(read_recorded(sound.path), library=elsewhere.root)
