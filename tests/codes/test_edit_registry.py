"""One table of edits: an edit registered in ``distill.codes.edits`` is offered by the editor, its
widget and ``distill codes edits`` with nothing else to change."""

from dataclasses import replace

import pytest
import torch
from tiny_model import decaying_tone, tiny_model
from typer.testing import CliRunner

from distill.cli.main import app
from distill.codes import edits
from distill.codes.editor import CodeEditor
from distill.codes.grid import CodeGrid
from distill.codes.widget import CodeEditorWidget


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture
def reverse():
    """A throwaway edit, registered as any edit is and removed after the test."""

    @edits.edit(selection=lambda region: {"start": region.start, "stop": region.stop})
    def reverse(grid: CodeGrid, start: int, stop: int, level: int = 0) -> CodeGrid:
        """Columns start..stop of levels from ``level`` up played backwards."""
        codes = grid.codes.clone()
        codes[level:, :, start:stop] = grid.codes[level:, :, start:stop].flip(-1)
        return replace(grid, codes=codes)

    yield reverse
    del edits.EDITS["reverse"]


def test_a_registered_edit_is_offered_everywhere(model, reverse, tmp_path):
    start = model.encode(decaying_tone(2.0, 220))
    expected = reverse(start, 1, 4)
    assert not torch.equal(expected.codes, start.codes)

    editor = CodeEditor(model, start)
    assert editor.apply("reverse", start=1, stop=4) == expected
    assert editor.history == [{"edit": "reverse", "params": {"start": 1, "stop": 4, "level": 0}}]
    assert CodeEditor.load(editor.save(tmp_path / "session.json"), model).grid == expected  # distill edit

    widget = CodeEditorWidget(CodeEditor(model, start))
    assert "reverse" in widget.edits
    widget.select(1, 4)
    assert widget.apply("reverse") == expected

    listing = CliRunner().invoke(app, ["codes", "edits"])
    assert (
        listing.exit_code == 0
        and "reverse(start, stop, level=0): Columns start..stop of levels from level up" in listing.output
    )


def test_every_edit_fills_its_parameters_from_a_selection(model):
    """What the widget passes: a selection, the first source grid and a seed, on every edit."""
    start = model.encode(decaying_tone(2.0, 220))
    widget = CodeEditorWidget(CodeEditor(model, start))
    widget.add_source("high", model.encode(decaying_tone(1.5, 880)))
    assert widget.edits == list(edits.EDITS)
    for name in edits.EDITS:
        widget.select(1, 3, levels=(1, 2))
        widget.apply(name, seed=1)
        assert widget.editor.history[-1]["edit"] == name
        assert set(widget.editor.history[-1]["params"]) == set(edits.EDITS[name].parameters)
