"""A sound as a grid of discrete codes: what encoding makes, edits change and rendering plays.

A :class:`CodeGrid` is the RVQ-VAE's codes ``[levels, rows, columns]`` together with what gives
them meaning: the VQ-VAE they belong to (its weight digest; another VQ-VAE reads the same
integers as other sounds), the mel they describe (its fingerprint, sample rate and hop), how many
mel frames one column spans, and how many mel frames are real (the last column may run past the
sound's end into the silence the encoder was padded with). Time is addressed in columns or in
seconds. It is saved as a ``.codes`` file: safetensors holding the codes, with the rest as JSON in
its metadata, written atomically; never a pickle, so opening a grid runs no code.
A :class:`Region` is a part of a grid (columns, and optionally rows and levels): what edits
change and what a person selects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from distill.errors import UserError

FORMAT = "distill.codes"
FORMAT_VERSION = 1
SUFFIX = ".codes"


@dataclass(frozen=True, eq=False, kw_only=True)
class CodeGrid:
    """Codes of one sound and the geometry they belong to; see the module docstring."""

    codes: torch.Tensor  # [levels, rows, columns] long
    n_frames: (
        int  # real mel frames: (columns - 1) * frames_per_column < n_frames <= columns * frames_per_column
    )
    frames_per_column: int  # the RVQ-VAE's time down-sampling
    sample_rate: int
    hop_length: int
    vqvae_digest: str
    mel_fingerprint: str

    def __post_init__(self) -> None:
        if self.codes.dim() != 3 or self.codes.shape[-1] < 1:
            raise ValueError(
                f"codes must be [levels, rows, columns >= 1], got shape {tuple(self.codes.shape)}"
            )
        if self.codes.dtype != torch.long:
            object.__setattr__(self, "codes", self.codes.long())
        if int(self.codes.min()) < 0:
            raise ValueError(
                "codes must be >= 0 (a -1 is a level dropped in train mode: encode in eval mode)"
            )
        low, high = (self.columns - 1) * self.frames_per_column, self.columns * self.frames_per_column
        if not low < self.n_frames <= high:
            raise ValueError(
                f"n_frames must be in {low + 1}..{high} for {self.columns} columns, got {self.n_frames}"
            )

    # ------------------------------------------------------------------ geometry

    @property
    def levels(self) -> int:
        return self.codes.shape[0]

    @property
    def rows(self) -> int:
        return self.codes.shape[1]

    @property
    def columns(self) -> int:
        return self.codes.shape[2]

    @property
    def column_seconds(self) -> float:
        """Seconds one column spans."""
        return self.frames_per_column * self.hop_length / self.sample_rate

    @property
    def seconds(self) -> float:
        """Length of the sound the grid describes (its real frames)."""
        return self.n_frames * self.hop_length / self.sample_rate

    def column_at(self, seconds: float) -> int:
        """The column holding time ``seconds`` (the end of the grid maps to ``columns``)."""
        if not 0.0 <= seconds <= self.seconds + 1e-9:
            raise UserError(f"{seconds:g} s is outside the grid (0-{self.seconds:.3f} s).")
        return min(math.floor(seconds / self.column_seconds + 1e-9), self.columns)

    def same_space(self, other: CodeGrid) -> bool:
        """Whether ``other`` is in this grid's code space (same VQ-VAE, mel and geometry)."""
        return self._space() == other._space()

    def _space(self) -> tuple:
        return (
            self.levels,
            self.rows,
            self.frames_per_column,
            self.sample_rate,
            self.hop_length,
            self.vqvae_digest,
            self.mel_fingerprint,
        )

    # ------------------------------------------------------------------ time

    def slice_columns(self, start: int, stop: int | None = None) -> CodeGrid:
        """Columns ``start`` .. ``stop`` (exclusive; None = to the end); the real frames follow."""
        stop = self.columns if stop is None else stop
        if not 0 <= start < stop <= self.columns:
            raise UserError(f"columns {start}..{stop} are not a region of a {self.columns}-column grid.")
        # A slice that ends before the last column holds whole columns of sound.
        n_frames = (self.n_frames if stop == self.columns else stop * self.frames_per_column) - (
            start * self.frames_per_column
        )
        return replace(self, codes=self.codes[..., start:stop].clone(), n_frames=n_frames)

    def slice_seconds(self, start_s: float, end_s: float | None = None) -> CodeGrid:
        """The columns covering ``start_s`` .. ``end_s`` seconds (None = to the end)."""
        start = self.column_at(start_s)
        stop = (
            self.columns if end_s is None else max(start + 1, math.ceil(end_s / self.column_seconds - 1e-9))
        )
        return self.slice_columns(min(start, self.columns - 1), min(stop, self.columns))

    def concat(self, *others: CodeGrid) -> CodeGrid:
        """This grid followed by ``others`` in time; every grid before the last keeps its padding
        frames (its last column is played whole), so columns stay aligned."""
        grids = (self, *others)
        for other in others:
            if not self.same_space(other):
                raise UserError(
                    "cannot join code grids of different models or shapes "
                    f"(VQ-VAE {self.vqvae_digest[:12]} vs {other.vqvae_digest[:12]})."
                )
        whole = sum(grid.columns for grid in grids[:-1]) * self.frames_per_column
        return replace(
            self, codes=torch.cat([grid.codes for grid in grids], dim=-1), n_frames=whole + grids[-1].n_frames
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CodeGrid):
            return NotImplemented
        return (
            self._space() == other._space()
            and self.n_frames == other.n_frames
            and torch.equal(self.codes, other.codes)
        )

    __hash__ = None  # mutable tensor inside: equal grids need not hash alike

    # ------------------------------------------------------------------ files

    def metadata(self) -> dict[str, Any]:
        """Everything but the codes, JSON-safe."""
        return {field.name: getattr(self, field.name) for field in fields(self) if field.name != "codes"}

    def to_json(self) -> dict[str, Any]:
        """The grid as plain JSON data (codes as nested lists): what an edit session embeds."""
        return {**self.metadata(), "codes": self.codes.tolist()}

    @classmethod
    def from_json(cls, data: Any) -> CodeGrid:
        """The grid of :meth:`to_json`; anything else raises ValueError."""
        try:
            codes = torch.tensor(data["codes"], dtype=torch.long)
            return cls(codes=codes, **{f.name: data[f.name] for f in fields(cls) if f.name != "codes"})
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"not a code grid ({error})") from None

    def save(self, path: str | Path) -> Path:
        """Write a ``.codes`` file atomically (a crash never leaves half a file under ``path``)."""
        from safetensors.torch import save

        from distill.files import atomic_write

        path = Path(path)
        header = {"format": FORMAT, "version": FORMAT_VERSION, **self.metadata()}
        data = save({"codes": self.codes.contiguous()}, metadata={"distill": json.dumps(header)})
        atomic_write(path, lambda handle: handle.write(data))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CodeGrid:
        """Read a ``.codes`` file; anything else is one clear error naming it."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        from distill.files import FileSystemError

        path = Path(path)
        try:
            tensors = load(path.read_bytes())
            with open(path, "rb") as handle:
                header_length = int.from_bytes(handle.read(8), "little")
                header = json.loads(json.loads(handle.read(header_length))["__metadata__"]["distill"])
        except FileNotFoundError:
            raise UserError(f"{path}: no such code-grid file; check the path.") from None
        except OSError as error:  # permission denied, a folder, a file on the way: not a bad grid
            raise FileSystemError(path, error, action="read") from None
        except (SafetensorError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path} is not a code-grid file ({error}).") from None
        if header.get("format") != FORMAT or not isinstance(header.get("version"), int):
            raise UserError(f"{path} is not a code-grid file (no {FORMAT} header).")
        if header["version"] > FORMAT_VERSION:
            raise UserError(
                f"{path} is a version {header['version']} code grid; this distill reads up to"
                f" {FORMAT_VERSION}: update distill."
            )
        try:
            return cls(
                codes=tensors["codes"], **{f.name: header[f.name] for f in fields(cls) if f.name != "codes"}
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{path} is a damaged code-grid file ({error}).") from None

    def check_model(self, vqvae_digest: str, model_name: str) -> None:
        """One clear error when this grid was not made by the VQ-VAE with ``vqvae_digest``."""
        if vqvae_digest != self.vqvae_digest:
            raise UserError(
                f"this code grid belongs to VQ-VAE {self.vqvae_digest[:12]}, but {model_name}'s VQ-VAE is"
                f" {vqvae_digest[:12]}: its codes would mean other sounds there; decode it with the model"
                " that encoded it."
            )


@dataclass(frozen=True)
class Region:
    """Columns ``start..stop`` (exclusive), and within them rows ``rows`` and levels ``levels``
    (``(first, stop)`` pairs, exclusive; None = all). Also what a person selects on a grid."""

    start: int
    stop: int
    rows: tuple[int, int] | None = None
    levels: tuple[int, int] | None = None

    def index(self, grid: CodeGrid) -> tuple[slice, slice, slice]:
        """(levels, rows, columns) slices into ``grid.codes``; a region outside it is a UserError."""
        spans = {
            "levels": (self.levels or (0, grid.levels), grid.levels),
            "rows": (self.rows or (0, grid.rows), grid.rows),
            "columns": ((self.start, self.stop), grid.columns),
        }
        for name, ((first, stop), size) in spans.items():
            if not 0 <= first < stop <= size:
                raise UserError(f"{name} {first}..{stop} are outside the grid, which has {name} 0..{size}.")
        return tuple(slice(*spans[name][0]) for name in ("levels", "rows", "columns"))

    @property
    def width(self) -> int:
        return self.stop - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "stop": self.stop,
            "rows": list(self.rows) if self.rows else None,
            "levels": list(self.levels) if self.levels else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Region:
        if not isinstance(data, dict):
            raise UserError(
                'this edit needs a region: {"start": column, "stop": column, "rows"?, "levels"?}.'
            )
        try:
            return cls(
                start=int(data["start"]),
                stop=int(data["stop"]),
                rows=tuple(data["rows"]) if data.get("rows") is not None else None,
                levels=tuple(data["levels"]) if data.get("levels") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"a region needs integer start and stop columns ({error}).") from None
