"""The Edit panel: a code grid in the notebook editor (``distill.codes.widget.CodeEditorWidget``).

A grid arrives from the Generate panel's "edit" (``show_grid``, through ``StudioContext.open_editor``)
or from a sound file encoded by a library model (``open_file``). The editor saves its session to
``edit-session.json`` in the workspace, where ``CodeEditor.load`` replays it.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from distill.codes.editor import CodeEditor
from distill.codes.widget import SESSION_FILE, CodeEditorWidget
from distill.errors import UserError
from distill.studio.common import Status, StudioContext, guarded, named, relist
from distill.studio.results import ModelCache


class EditPanel(widgets.VBox):
    """Edit a code grid. ``show_grid(grid, model)`` and ``open_file(path)`` are callable from a notebook;
    neither raises: a failure is the status line, and the editor shown until then stays."""

    def __init__(self, context: StudioContext) -> None:
        self.context = context
        self.status = Status("edit")
        self.editor: CodeEditorWidget | None = None
        self._models = ModelCache(context)
        self.model = named(widgets.Dropdown(description="model", options=[]), "edit-model")
        self.path = named(
            widgets.Text(description="sound file", placeholder="a WAV, FLAC or OGG file to encode"),
            "edit-path",
        )
        self.open_button = named(widgets.Button(description="open"), "edit-open")
        self.editor_box = named(widgets.VBox([]), "edit-editor")
        self.open_button.on_click(lambda _button: self.open_file(self.path.value))
        context.library_listeners.append(self.refresh)
        super().__init__(
            [
                widgets.HBox([self.model, self.path, self.open_button]),
                self.status,
                self.editor_box,
            ]
        )
        named(self, "edit")
        self.refresh()

    def refresh(self) -> None:
        """List the library's models again, keeping the chosen one while it is still there."""
        guarded(self.context, self.status, self._refresh)()

    def show_grid(self, grid, model, title: str = "") -> None:
        """Show ``grid`` (a ``CodeGrid`` of ``model``) in the editor, replacing the one shown (the
        Studio's ``open_editor`` hook). Not ``open``: that is ipywidgets' own, which opens the comm."""
        guarded(self.context, self.status, self._open)(grid, model, title)

    def open_file(self, path: str | Path) -> None:
        """Encode the sound file ``path`` with the chosen model and open its grid."""
        guarded(self.context, self.status, self._open_file)(path)

    def _refresh(self) -> None:
        relist(self.model, [entry.name for entry in self.context.library.list()])

    def _open(self, grid, model, title: str) -> None:
        editor = CodeEditorWidget(
            CodeEditor(model, grid), title=title, session_path=self.context.workspace / SESSION_FILE
        )
        self.editor = editor
        self.editor_box.children = (editor,)
        self.status.say(
            f"editing {title or model.name} ({grid.seconds:.2f} s, {grid.columns} columns) with {model.name};"
            f" its session is saved to {editor.session_path}"
        )

    def _open_file(self, path: str | Path) -> None:
        text = str(path).strip()
        if not text:
            raise UserError("Give the path of a sound file to encode and edit.")
        if not self.model.value:
            raise UserError("Choose the model to encode it with (the library has none yet: train one first).")
        model = self._models.get(self.model.value)
        grid = model.encode(Path(text).expanduser())  # a missing or unreadable file: its UserError
        self._open(grid, model, Path(text).name)
