"""CodeEditor: edits with undo/redo, and sessions that replay to the identical grid and audio."""

import json

import numpy as np
import pytest
from tiny_model import decaying_tone, tiny_model

from distill.codes.editor import CodeEditor
from distill.errors import UserError


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _session(model) -> CodeEditor:
    editor = CodeEditor(model, model.encode(decaying_tone(2.0, 220)))
    editor.add_source("high", model.encode(decaying_tone(1.5, 880)))
    editor.apply("transplant", region={"start": 2, "stop": 4, "rows": [4, 8]}, source="high", source_start=1)
    editor.apply("infill", start=5, stop=7, seed=1, candidates=3)
    editor.apply("vary_levels", from_level=1, seed=2, columns=[0, 3])
    editor.apply("morph", source="high", weight=[0.0, 0.5])
    editor.apply("loop", start=1, stop=3, times=2)
    return editor


def test_undo_redo_walk_the_history_and_a_new_edit_drops_the_undone(model):
    editor = _session(model)
    after = [editor.grid]
    for _ in range(5):
        after.append(editor.undo())
    assert after[-1] == editor.start and not editor.can_undo and editor.history == []
    with pytest.raises(UserError, match="nothing to undo"):
        editor.undo()
    assert editor.redo() == after[-2] and editor.redo() == after[-3]
    assert [record["edit"] for record in editor.history] == ["transplant", "infill"]
    editor.apply("cut", start=0, stop=2)
    assert not editor.can_redo and editor.grid.columns == after[-3].columns - 2
    with pytest.raises(UserError, match="nothing to redo"):
        editor.redo()


def test_a_saved_session_replays_to_the_identical_grid_and_audio(model, tmp_path):
    editor = _session(model)
    editor.undo()  # the undone loop is saved too, and stays undone
    path = editor.save(tmp_path / "session.json")
    again = CodeEditor.load(path, model)
    assert again.grid == editor.grid and again.history == editor.history
    assert np.array_equal(model.render(again.grid).samples, model.render(editor.grid).samples)
    assert again.redo() == _session(model).grid
    assert json.loads(path.read_text())["position"] == 4


def test_bad_edits_and_sessions_are_one_clear_error(model, tmp_path):
    editor = CodeEditor(model, model.encode(decaying_tone(1.0, 220)))
    with pytest.raises(UserError, match="unknown edit 'blur'"):
        editor.apply("blur")
    with pytest.raises(UserError, match="no source grid named 'snare'"):
        editor.apply("morph", source="snare", weight=0.5)
    with pytest.raises(UserError, match="infill: .*unexpected keyword argument 'width'"):
        editor.apply("infill", start=1, stop=2, seed=0, width=3)
    with pytest.raises(UserError, match="needs a region"):
        editor.apply("transplant", source="x")
    assert editor.history == [] and not editor.can_undo  # failed edits leave nothing behind
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(UserError, match="junk.json is not a distill edit session"):
        CodeEditor.load(tmp_path / "junk.json", model)
    with pytest.raises(UserError, match="no such edit session"):
        CodeEditor.load(tmp_path / "missing.json", model)


def _other_model(seed: int = 7):
    """A second model whose RVQ-VAE was trained apart: the same geometry, other weights."""
    import torch

    other = tiny_model()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in other.vqvae.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    other.name = "other"
    return other


def test_another_models_grid_is_brought_into_this_models_codes_and_morphs(model, tmp_path):
    other = _other_model()
    assert other.vqvae_digest != model.vqvae_digest
    theirs = other.encode(decaying_tone(1.5, 660))
    editor = CodeEditor(model, model.encode(decaying_tone(1.5, 220)))
    # Without its model the grid is refused: its codes mean other sounds here.
    with pytest.raises(UserError, match="belongs to VQ-VAE"):
        editor.add_source("theirs", theirs)
    editor.add_source("theirs", theirs, model=other)
    brought = editor.source("theirs")
    # It is the other model's sound, encoded by this one.
    assert brought.vqvae_digest == model.vqvae_digest
    assert brought == model.encode(other.render(theirs).samples)
    half = editor.apply("morph", source="theirs", weight=0.5)
    full = editor.apply("morph", source="theirs", weight=1.0)
    assert full.codes.equal(brought.codes[..., : full.columns])
    assert not half.codes.equal(editor.start.codes[..., : half.columns])
    # The session keeps the brought grid, so it replays without the other model.
    again = CodeEditor.load(editor.save(tmp_path / "s.json"), model)
    assert again.grid == editor.grid


def test_a_grid_given_with_the_wrong_model_is_refused(model):
    other, third = _other_model(7), _other_model(8)
    editor = CodeEditor(model, model.encode(decaying_tone(1.0, 220)))
    with pytest.raises(UserError, match="belongs to VQ-VAE") as error:
        editor.add_source("x", third.encode(decaying_tone(1.0, 330)), model=other)
    assert "\n" not in str(error.value) and "x" not in editor.sources
