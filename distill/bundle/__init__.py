"""Model files (``format``), the model library (``catalog``), packaging runs and loading models.

``locate_model`` lives here, free of torch, so that the CLI's library commands and
``DistillModel.load`` share one rule for "a path or a library name" without importing torch.
"""

from __future__ import annotations

from pathlib import Path


def locate_model(path_or_name: str | Path, *, library: str | Path | None = None) -> Path:
    """The model file meant by ``path_or_name``.

    A ``Path``, or text holding a path separator or ending in ``.distillgan``/``.distill``, is a
    file path; any other text is the name or id (or unique id prefix) of a model in the library at
    ``library`` (default ``default_library_root()``). Library names never hold separators, so the
    two cannot be confused.
    """
    from distill.bundle.catalog import ModelLibrary, default_library_root
    from distill.bundle.format import LEGACY_SUFFIX, MODEL_SUFFIX

    if isinstance(path_or_name, Path):
        return path_or_name.expanduser()
    if "/" in path_or_name or "\\" in path_or_name or path_or_name.endswith((MODEL_SUFFIX, LEGACY_SUFFIX)):
        return Path(path_or_name).expanduser()
    return ModelLibrary(root=library if library is not None else default_library_root()).resolve(path_or_name)
