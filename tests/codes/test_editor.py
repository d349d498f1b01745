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
