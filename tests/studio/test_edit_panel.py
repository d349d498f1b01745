"""The Edit panel: a grid handed over by the Generate panel or a sound file encoded by a library
model opens in the code-grid editor; what cannot be opened is one status line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tone
from tiny_library import tiny_library, tiny_model_file

from distill.bundle.catalog import ModelLibrary
from distill.codes.widget import CodeEditorWidget
from distill.model import DistillModel
from distill.studio.common import StudioContext
from distill.studio.edit_panel import EditPanel


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tiny_library(tmp_path_factory.mktemp("library") / "lib", ("kit",))


@pytest.fixture
def panel(library, tmp_path) -> EditPanel:
    return EditPanel(StudioContext(workspace=tmp_path / "studio", library_root=library))


def one_line_error(panel: EditPanel) -> str:
    text = panel.status.text
    assert "ds-error" in panel.status.value and text and "\n" not in text and "Traceback" not in text
    return text


def test_a_sound_file_opens_in_the_editor_and_a_bad_one_is_one_line(panel, tmp_path):
    assert panel.model.options == ("kit",) and panel.model.value == "kit"
    assert panel.editor_box._dom_classes == ("ds-edit-editor",) and panel.editor_box.children == ()
    tone = write_tone(tmp_path / "tone.wav", seconds=1.0)
    panel.path.value = str(tone)
    panel.open_button.click()
    (editor,) = panel.editor_box.children
    assert isinstance(editor, CodeEditorWidget) and editor is panel.editor and editor.title == "tone.wav"
    assert editor.shape[2] == editor.editor.grid.columns > 0 and editor.after_wav
    assert editor.session_path == panel.context.workspace / "edit-session.json"
    assert panel.status.text.startswith("editing tone.wav (1.")

    (tmp_path / "notes.wav").write_text("not a sound")
    for path, said in (
        (tmp_path / "missing.wav", "no such sound file"),
        (tmp_path / "notes.wav", "cannot be encoded: not readable as audio"),
        ("  ", "Give the path of a sound file"),
    ):
        panel.open_file(path)
        assert said in one_line_error(panel)
        assert panel.editor_box.children == (editor,)  # the grid being edited stays


def test_open_shows_a_grid_handed_over(panel, library, tmp_path):
    model = DistillModel.load("kit", library=library)
    grid = model.generate(mode="continuous", duration_s=0.5, seed=2).grid
    panel.show_grid(grid, model, title="kit seed 2")
    assert panel.editor.editor.grid == grid and panel.editor.title == "kit seed 2"
    panel.editor.save()
    assert (panel.context.workspace / "edit-session.json").is_file()


def test_without_a_model_the_panel_says_so_and_follows_the_library(tmp_path):
    root = tmp_path / "empty"
    context = StudioContext(workspace=tmp_path / "studio", library_root=root)
    panel = EditPanel(context)
    assert panel.model.options == () and panel.model.value is None
    panel.open_file(write_tone(tmp_path / "tone.wav"))
    assert one_line_error(panel).startswith("Choose the model")
    ModelLibrary(root=root).add(tiny_model_file(tmp_path / "new.distillgan", name="new"), name="new")
    context.library_changed()
    assert panel.model.options == ("new",) and panel.model.value == "new"
