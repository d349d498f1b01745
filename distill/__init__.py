"""distill: generative models of one person's sound collection.

The public API, ``from distill import DistillModel, CodeGrid, generate, ...``::

    model = DistillModel.load("drums")          # a library name, an id or a .distillgan path
    grid = model.encode("kick.wav")             # a CodeGrid: levels x rows x ~186 ms columns
    audio = model.render(grid.slice_seconds(0, 0.5))
    hit = model.generate(seed=3)                # a new sound (one-shot or continuous): .audio, .grid, .mel
    hit.audio.save("hit.wav")                   # with a sidecar JSON that remakes it
    again = model.remake("hit.wav.json")        # the same sound again
    audio = generate(model, seed=3)             # the same as model.generate(seed=3).audio
    between = blend(model, DistillModel.load("piano"), weight=0.3)  # a sound between two models

``GenerationParams`` holds every generation setting; ``CodeEditor`` (and ``CodeEditorWidget`` in
a notebook) edits code grids with undo and replayable sessions; ``plot_generation`` and
``plot_edit`` draw a mel over its code grid.

Importing the package is cheap on purpose: these names, and the torch, Lightning and friends
behind them, load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# name -> module that defines it
_PUBLIC = {
    "DistillModel": "distill.model",
    "generate": "distill.model",
    "blend": "distill.generation.blend",
    "CodeGrid": "distill.codes.grid",
    "GenerationParams": "distill.generation.params",
    "CodeEditor": "distill.codes.editor",
    "CodeEditorWidget": "distill.codes.widget",
    "plot_generation": "distill.codes.plot",
    "plot_edit": "distill.codes.plot",
}
__all__ = [
    "CodeEditor",
    "CodeEditorWidget",
    "CodeGrid",
    "DistillModel",
    "GenerationParams",
    "__version__",
    "blend",
    "generate",
    "plot_edit",
    "plot_generation",
]

if TYPE_CHECKING:
    from distill.codes.editor import CodeEditor
    from distill.codes.grid import CodeGrid
    from distill.codes.plot import plot_edit, plot_generation
    from distill.codes.widget import CodeEditorWidget
    from distill.generation.blend import blend
    from distill.generation.params import GenerationParams
    from distill.model import DistillModel, generate

    __version__: str


def _version() -> str:
    # pyproject.toml holds the one version; the installed package's metadata carries it here.
    # Read on first use: importlib.metadata costs ~30 ms, which ``distill --help`` need not pay.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("distill")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # once: later lookups do not come back here
        return value
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
