"""CodeEditorWidget driven as the browser drives it: messages in, synced state out."""

import base64

import pytest
import torch
from tiny_model import decaying_tone, tiny_model

from distill.codes.editor import CodeEditor
from distill.codes.edits import SAMPLING
from distill.codes.widget import CodeEditorWidget


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _message(widget, **content):
    widget._on_message(widget, content, [])


def test_a_selection_and_the_buttons_edit_undo_redo_and_save(model, tmp_path):
    start = model.encode(decaying_tone(2.0, 220))
    widget = CodeEditorWidget(CodeEditor(model, start), session_path=tmp_path / "session.json")
    assert widget.shape == [start.levels, start.rows, start.columns] and widget.codes == start.codes.tolist()
    assert base64.b64decode(widget.mel_png)[:4] == b"\x89PNG" and widget.before_wav == ""
    assert not widget.can_undo and widget.codebook_size == 16

    widget.selection = {"start": 3, "stop": 6, "rows": None, "levels": [0, 2]}  # as a mouse drag sets it
    _message(widget, action="apply", edit="infill", source="", seed=4)
    assert widget.status.startswith("infill applied") and widget.can_undo and not widget.can_redo
    edited = widget.editor.grid
    assert edited == CodeEditor(model, start).apply("infill", start=3, stop=6, seed=4)
    assert widget.codes == edited.codes.tolist()
    assert (
        base64.b64decode(widget.before_wav)[:4] == b"RIFF"
        and base64.b64decode(widget.after_wav)[:4] == b"RIFF"
    )

    _message(widget, action="undo")
    assert widget.editor.grid == start and widget.codes == start.codes.tolist() and widget.can_redo
    _message(widget, action="redo")
    assert widget.editor.grid == edited
    _message(widget, action="save")
    assert CodeEditor.load(tmp_path / "session.json", model).grid == edited


def test_edits_read_the_selection_and_errors_become_the_status_line(model):
    start = model.encode(decaying_tone(2.0, 220))
    widget = CodeEditorWidget(CodeEditor(model, start))
    _message(widget, action="apply", edit="transplant", source="", seed=0)
    assert widget.status.startswith("error: no source grid") and not widget.can_undo

    widget.add_source("high", model.encode(decaying_tone(1.5, 880)))
    assert widget.sources == ["high"]
    widget.select(1, 4, rows=(2, 6), levels=(1, 2))
    widget.apply("transplant")
    assert torch.equal(
        widget.editor.grid.codes[1, 2:6, 1:4], widget.editor.sources["high"].codes[1, 2:6, 0:3]
    )
    widget.apply("cut")
    assert widget.shape[2] == start.columns - 3
    widget.select(0, 2)
    before = widget.editor.grid
    widget.apply("vary_levels", seed=1)  # no levels selected: level 0 kept, the rest resampled
    assert torch.equal(widget.editor.grid.codes[0], before.codes[0])
    assert widget.editor.history[-1]["params"] == {"from_level": 1, "seed": 1, "columns": [0, 2], **SAMPLING}
    _message(widget, action="dance")
    assert widget.status == "unknown action 'dance'"
    state = widget.get_state()
    assert "export default { render }" in state["_esm"] and state["edits"][0] == "transplant"
