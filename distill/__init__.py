"""distill: generative models of one person's sound collection.

The public API, ``from distill import DistillModel, CodeGrid, generate``::

    model = DistillModel.load("drums")          # a library name, an id or a .distillgan path
    grid = model.encode("kick.wav")             # a CodeGrid: levels x rows x ~186 ms columns
    audio = model.render(grid.slice_seconds(0, 0.5))
    hit = generate(model, seed=3)               # a new sound (one-shot or continuous)

Importing the package is cheap on purpose: these names, and the torch, Lightning and friends
behind them, load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# name -> module that defines it
_PUBLIC = {
    "DistillModel": "distill.bundle.model",
    "CodeGrid": "distill.codes.grid",
    "generate": "distill.generation.pipeline",
}
__all__ = ["CodeGrid", "DistillModel", "__version__", "generate"]

if TYPE_CHECKING:
    from distill.bundle.model import DistillModel
    from distill.codes.grid import CodeGrid
    from distill.generation.pipeline import generate

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
