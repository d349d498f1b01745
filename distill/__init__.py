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

__version__ = "0.1.0"

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


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # once: later lookups do not come back here
        return value
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
