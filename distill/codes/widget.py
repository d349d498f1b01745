"""``CodeEditorWidget``: a notebook editor for code grids, an anywidget over :class:`CodeEditor`.

The browser side (``widget.js``) draws the mel above the grid, selects a region with the mouse and
sends actions; this side applies them to the editor and syncs back the grid, the mel picture, the
before/after audio and a status line. Every action is also a method (``select``, ``apply``,
``undo``, ``redo``, ``save``), so a notebook or a test can drive the widget without a browser.
Errors never raise into the browser: they become the status line.

    widget = CodeEditorWidget(CodeEditor(model, model.encode("kick.wav")))
    widget                                   # in a notebook cell: draw, select, apply, listen
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from distill.codes import edits
from distill.codes.editor import CodeEditor
from distill.codes.grid import CodeGrid, Region
from distill.errors import UserError
from distill.files import wav_bytes

SESSION_FILE = "edit-session.json"


class CodeEditorWidget(anywidget.AnyWidget):
    _esm = Path(__file__).with_name("widget.js")
    _css = """
    .distill-code-editor { font-family: sans-serif; font-size: 13px; }
    .distill-code-editor .dce-mel, .distill-code-editor .dce-grid { display: block; image-rendering: pixelated; }
    .distill-code-editor .dce-mel { height: 128px; }
    .distill-code-editor .dce-grid { cursor: crosshair; margin-top: 4px; }
    .distill-code-editor .dce-controls > * { margin: 4px 4px 0 0; }
    .distill-code-editor .dce-players label { margin-right: 12px; }
    .distill-code-editor .dce-status { margin-top: 4px; color: #555; }
    """
    title = traitlets.Unicode("").tag(sync=True)
    shape = traitlets.List([]).tag(sync=True)  # [levels, rows, columns]
    codes = traitlets.List([]).tag(sync=True)  # [levels][rows][columns] code indices
    codebook_size = traitlets.Int(1).tag(sync=True)
    mel_png = traitlets.Unicode("").tag(sync=True)  # base64 PNG of the decoded mel
    selection = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    edits = traitlets.List([]).tag(sync=True)  # the names in edits.EDITS, read when a widget is made
    edit = traitlets.Unicode("infill").tag(sync=True)
    sources = traitlets.List([]).tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    before_wav = traitlets.Unicode("").tag(sync=True)  # base64 WAV of the grid before the last action
    after_wav = traitlets.Unicode("").tag(sync=True)  # base64 WAV of the grid now
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, editor: CodeEditor, *, title: str = "", session_path: str | Path = SESSION_FILE
    ) -> None:
        super().__init__(title=title or editor.model.name, edits=list(edits.EDITS))
        self.editor = editor
        self.session_path = Path(session_path)
        self.codebook_size = int(editor.model.vqvae.quantizer.codebook_size)
        self.on_msg(self._on_message)
        self._show(changed=False, status="select a region with the mouse, choose an edit, apply")

    # --- actions (the browser's buttons call these through _on_message) ---------------------------

    def select(
        self,
        start: int,
        stop: int,
        *,
        rows: tuple[int, int] | None = None,
        levels: tuple[int, int] | None = None,
    ) -> None:
        """Select columns ``start..stop`` (and rows / levels, None = all) as the mouse does."""
        self.selection = {
            "start": start,
            "stop": stop,
            "rows": list(rows) if rows else None,
            "levels": list(levels) if levels else None,
        }

    def add_source(self, name: str, grid: CodeGrid, model: Any = None) -> None:
        """A second grid for transplant, morph and join, of this model or of ``model`` (the
        editor's ``add_source``: another model's grid is brought into this one's codes)."""
        self.editor.add_source(name, grid, model)
        self.sources = sorted(self.editor.sources)

    def apply(
        self, edit: str | None = None, *, source: str | None = None, seed: int = 0, **extra: Any
    ) -> CodeGrid:
        """Apply ``edit`` (default: the chosen one) to the selection; ``extra`` overrides parameters."""
        edit = edit or self.edit
        params = {**self._params(edit, source, seed), **extra}
        self.editor.apply(edit, **params)
        self._show(changed=True, status=f"{edit} applied: {params}")
        return self.editor.grid

    def undo(self) -> CodeGrid:
        self.editor.undo()
        self._show(changed=True, status="undone")
        return self.editor.grid

    def redo(self) -> CodeGrid:
        self.editor.redo()
        self._show(changed=True, status="redone")
        return self.editor.grid

    def save(self, path: str | Path | None = None) -> Path:
        """Save the session (default: ``session_path``); it replays with ``CodeEditor.load``."""
        written = self.editor.save(Path(path) if path is not None else self.session_path)
        self.status = f"saved {written}"
        return written

    # --- plumbing ---------------------------------------------------------------------------------

    def _params(self, edit: str, source: str | None, seed: int) -> dict[str, Any]:
        """The edit's parameters: what it takes from the selection (none: the whole grid), the
        source grid (none chosen: the first) and the seed where it takes them, its defaults."""
        chosen = edits.find(edit)
        region = Region.from_json(self.selection or {"start": 0, "stop": self.editor.grid.columns})
        offered = {edits.SOURCE: source or next(iter(sorted(self.editor.sources)), None), "seed": seed}
        taken = {name: value for name, value in offered.items() if name in chosen.parameters}
        return {**chosen.defaults, **chosen.selection(region), **taken}

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        try:
            if action == "apply":
                self.apply(
                    content.get("edit"),
                    source=content.get("source") or None,
                    seed=int(content.get("seed", 0)),
                )
            elif action in ("undo", "redo", "save"):
                getattr(self, action)()
            else:
                self.status = f"unknown action {action!r}"
        except UserError as error:
            self.status = f"error: {error}"

    def _show(self, *, changed: bool, status: str) -> None:
        """Sync the editor's grid to the browser; ``changed``: it replaced the grid shown until now."""
        grid = self.editor.grid
        model = self.editor.model
        mel = model.decode(grid)
        with self.hold_sync():
            self.shape = [grid.levels, grid.rows, grid.columns]
            self.codes = grid.codes.tolist()
            self.mel_png = _png(mel.cpu().numpy())
            self.sources = sorted(self.editor.sources)
            self.can_undo, self.can_redo = self.editor.can_undo, self.editor.can_redo
            # The grid shown until now is the "before": its audio is already in after_wav.
            self.before_wav = self.after_wav if changed else ""
            self.after_wav = _wav(model.vocode(mel))
            if self.selection and self.selection.get("stop", 0) > grid.columns:
                self.selection = None  # the grid got shorter than the region
            self.status = status


def _png(mel: np.ndarray) -> str:
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    floor = float(mel.min())
    imsave(
        buffer,
        mel,
        cmap="magma",
        origin="lower",
        vmin=floor,
        vmax=max(float(mel.max()), floor + 1.0),
        format="png",
    )
    return base64.b64encode(buffer.getvalue()).decode()


def _wav(audio) -> str:
    return base64.b64encode(wav_bytes(audio.samples, audio.sample_rate, subtype="PCM_16")).decode()
