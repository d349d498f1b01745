"""Typed errors of the model file and the model library.

Each error carries one finished sentence (the CLI prints ``str(error)`` without a traceback) that
names the file or library it is about, plus the facts as attributes for code that wants them.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from distill.errors import UserError
from distill.files import FileSystemError


class BundleError(UserError):
    """Base of every error raised by ``distill.bundle``."""


# --- the model file -------------------------------------------------------------------------------


class ModelFileError(BundleError):
    """A ``.distillgan`` file could not be read; ``path`` is the file."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(message)
        self.path = Path(path)


class LegacyFormatError(ModelFileError):
    """A legacy ``.distill`` file or any pickle: never unpickled, since that would run its code."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            path,
            f"This model ({path}) was saved in the v1 format, which is no longer supported. "
            "Please retrain your model.",
        )


class RetiredArchitectureError(ModelFileError):
    """A component built by a class an earlier distill had and this one deleted after measuring it."""

    def __init__(self, path: str | Path, component: str, what: str, instead: str) -> None:
        super().__init__(
            path,
            f"{path} has a {component} made with {what}, which this distill no longer has; "
            f"retrain its {component} ({instead}).",
        )


class NewerFormatError(ModelFileError):
    def __init__(self, path: str | Path, found: int, supported: int) -> None:
        super().__init__(
            path,
            f"{path} was made by a newer distill (format {found}, this distill reads up to "
            f"{supported}); upgrade distill.",
        )
        self.found = found
        self.supported = supported


class NotAModelFileError(ModelFileError):
    """Not a zip, a truncated zip, or a zip without the ``distillgan`` marker."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"{path} is not a distill model file: {reason}.")
        self.reason = reason


class UnreadableModelFileError(ModelFileError, FileSystemError):
    """The file system refused to hand the file over (permission denied, a folder of that name, a
    file on the way, a name too long): told as every ``FileSystemError`` is, and still a
    ``ModelFileError`` for code that skips a model file it cannot use (the library's index)."""

    def __init__(self, path: str | Path, error: OSError, *, action: str = "read") -> None:
        FileSystemError.__init__(self, Path(path), error, action=action)


class CorruptModelFileError(ModelFileError):
    """The file has the marker but its structure is broken (malformed manifest, stray members)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"{path} is damaged: {reason}.")
        self.reason = reason


class ChecksumError(ModelFileError):
    def __init__(self, path: str | Path, member: str) -> None:
        super().__init__(path, f"{path} is damaged: its member {member} does not match its checksum.")
        self.member = member


class MissingComponentError(ModelFileError):
    def __init__(self, path: str | Path, component: str, member: str | None = None) -> None:
        detail = f" (no {member})" if member is not None else ""
        super().__init__(path, f"{path} is incomplete: it has no {component} component{detail}.")
        self.component = component
        self.member = member


class UnsafeMemberError(ModelFileError):
    """A member name that could escape a folder if extracted (``..``, absolute, backslash, ...)."""

    def __init__(self, path: str | Path, member: str, reason: str) -> None:
        super().__init__(path, f"{path} was refused: its member name {member!r} is unsafe ({reason}).")
        self.member = member
        self.reason = reason


class MetadataError(ModelFileError):
    """A metadata key the library reads has the wrong type (see ``distill.bundle.catalog``)."""

    def __init__(self, path: str | Path, key: str, expected: str) -> None:
        super().__init__(path, f"{path} has unusable metadata: {key} must be {expected}.")
        self.key = key


# --- the model library ----------------------------------------------------------------------------


class LibraryError(BundleError):
    """The model library refused an operation; ``root`` is the library folder."""

    def __init__(self, root: str | Path, message: str) -> None:
        super().__init__(message)
        self.root = Path(root)


class InvalidModelNameError(LibraryError):
    def __init__(self, root: str | Path, name: object, reason: str) -> None:
        super().__init__(root, f"{name!r} cannot name a model in the library at {root}: {reason}.")
        self.name = name


class ModelExistsError(LibraryError):
    def __init__(self, root: str | Path, name: str, reason: str) -> None:
        super().__init__(root, f"Cannot add {name!r} to the library at {root}: {reason}.")
        self.name = name


class ModelNotFoundError(LibraryError):
    def __init__(self, root: str | Path, query: str, reason: str) -> None:
        super().__init__(root, f"The library at {root} has no model {query!r}: {reason}.")
        self.query = query


class UnknownModelError(ModelNotFoundError):
    """No model has that name or id: the sentence offers the likeliest name, else the names there are."""

    def __init__(self, root: str | Path, query: str, names: Sequence[str]) -> None:
        # LibraryError's constructor: the hint ends in its own '?' or '.', not in "<reason>."
        LibraryError.__init__(
            self, root, f"The library at {root} has no model {query!r}; {_hint(query, names)}"
        )
        self.query = query
        self.names = tuple(names)


_LISTED_NAMES = 12  # a longer list is for `distill models list`


def _hint(query: str, names: Sequence[str]) -> str:
    if not names:
        return (
            "it has no models yet: make one with `distill package` (or copy a .distillgan file in "
            "with `distill models add`)."
        )
    # Names are unique regardless of case, so compare them that way (a typo in case is still close).
    by_folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(query.casefold(), list(by_folded), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_folded[close[0]]!r}?"
    shown = ", ".join(sorted(names, key=str.casefold)[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"available models: {shown}" + (f" and {more} more (distill models list)." if more > 0 else ".")


class AmbiguousModelError(LibraryError):
    def __init__(self, root: str | Path, query: str, count: int) -> None:
        super().__init__(
            root,
            f"{query!r} matches the ids of {count} models in the library at {root}; give more of the id.",
        )
        self.query = query


class UnsafeConfigError(ModelFileError):
    """A component config names something other than a distill module to build: never imported."""

    def __init__(self, path: str | Path, component: str, target: object) -> None:
        super().__init__(
            path,
            f"{path} was refused: its {component} config asks to build {target!r}, and a model file "
            "may only build modules from distill.nn.",
        )
        self.component = component
        self.target = target


class InconsistentModelFileError(ModelFileError):
    """Members that are each intact but do not belong together (a prior of another VQ-VAE)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"{path} is inconsistent: {reason}.")
        self.reason = reason


# --- packaging training runs ----------------------------------------------------------------------


class PackagingError(BundleError):
    """Training runs that cannot be packaged into one model file; the message names the run."""


class PriorMismatchError(PackagingError):
    """The prior was trained on the codes of another VQ-VAE than the one being packaged."""

    def __init__(self, prior_run: str | Path, vqvae_run: str | Path, trained_on: str | None) -> None:
        source = f" ({trained_on})" if trained_on else ""
        super().__init__(
            f"The prior run {prior_run} was trained on the codes of another VQ-VAE{source} than "
            f"{vqvae_run}; package it with the VQ-VAE run it was trained on."
        )
        self.prior_run = Path(prior_run)
        self.vqvae_run = Path(vqvae_run)
        self.trained_on = trained_on
