"""Model files (``format``), the model library (``catalog``), building modules from a file's
configs (``build``) and packaging runs; ``distill.model.DistillModel`` loads a model from them.

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


def locate_model_for_vqvae(digest: str, *, library: str | Path | None = None) -> Path:
    """The library's model file whose VQ-VAE has weight digest ``digest`` (what a code grid records),
    read from the files' manifests only; a UserError when none has it."""
    from distill.bundle.catalog import ModelLibrary, default_library_root
    from distill.bundle.format import read_manifest
    from distill.errors import UserError

    root = Path(library) if library is not None else default_library_root()
    for entry in ModelLibrary(root=root).list():
        try:
            if read_manifest(entry.path).metadata.get("vqvae_digest") == digest:
                return entry.path
        except UserError:  # a damaged file in the library is not this grid's model
            continue
    raise UserError(
        f"no model in the library at {root} has VQ-VAE {digest[:12]}, which made this code grid;"
        " pass --model <its name or .distillgan file>."
    )
