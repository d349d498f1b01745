"""``Studio()``: the whole job from a notebook, without writing Python.

    from distill.studio import Studio
    Studio()                      # in a notebook cell: Train, Generate, Library and Edit panels

Four panels on tabs, each a widget of its own module: Train (``train_panel``: scan a folder, train
the three models in a subprocess with live progress, cancel, resume, package), Generate
(``generate_panel``), Library (``library_panel``) and Edit (``edit_panel``, the code-grid editor).
They share a ``StudioContext``: the workspace where runs and kept sounds go, the model library, and
the hooks by which one panel refreshes or opens another.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from distill.studio.common import StudioContext, named
from distill.studio.edit_panel import EditPanel
from distill.studio.generate_panel import GeneratePanel
from distill.studio.library_panel import LibraryPanel
from distill.studio.train_panel import TrainPanel

TABS = ("Train", "Generate", "Library", "Edit")


class Studio(widgets.VBox):
    """The studio. ``workspace``: where runs, kept sounds and reports go (default
    ``./distill-studio``); ``library``: the model library (default ``DISTILL_HOME``)."""

    def __init__(self, *, workspace: str | Path | None = None, library: str | Path | None = None) -> None:
        self.context = StudioContext.create(workspace, library)
        self.train = TrainPanel(self.context)
        self.generate = GeneratePanel(self.context)
        self.library = LibraryPanel(self.context)
        self.edit = EditPanel(self.context)
        self.tabs = named(widgets.Tab(children=[self.train, self.generate, self.library, self.edit]), "tabs")
        for index, title in enumerate(TABS):
            self.tabs.set_title(index, title)
        self.context.open_editor = self._open_editor
        header = widgets.HTML(
            f"<b>distill studio</b> &nbsp; library <code>{self.context.library_root}</code>"
            f" &nbsp; workspace <code>{self.context.workspace}</code>"
        )
        super().__init__(children=[header, self.tabs])
        named(self, "studio")

    def _open_editor(self, grid, model, title: str) -> None:
        self.edit.show_grid(grid, model, title=title)
        self.tabs.selected_index = TABS.index("Edit")
