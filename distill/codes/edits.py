"""Edits of code grids: pure functions ``CodeGrid -> CodeGrid``, seeded wherever they sample,
and the one table of them, ``EDITS``, that the editor, its widget and ``distill`` read.

An edit is a function decorated with :func:`edit`, which declares what it takes from a selection
(a :class:`Region` a person marked on the grid); its parameters and their defaults are its
signature's. Its first parameter is the grid it edits; one typed ``EditableModel`` gets the model;
one typed ``CodeGrid`` is a second grid, named ``source`` in sessions; one typed ``Region`` is a
region, JSON in sessions. A region outside its grid is refused with one sentence; model-backed
edits refuse a grid their model's VQ-VAE did not make. Nothing here changes its inputs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Protocol, TypeVar

import torch

from distill.codes.grid import CodeGrid, Region
from distill.codes.sampling import continuation_nll, sample, sample_batch
from distill.errors import UserError
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE

SAMPLING = {"temperature": 1.0, "top_k": 0, "top_p": 0.95}  # as generation's defaults
INFILL_CANDIDATES = 8
SOURCE = "source"  # what sessions and the widget call an edit's second grid (by its name)


class EditableModel(Protocol):
    """What model-backed edits need (``distill.model.DistillModel`` is one)."""

    name: str
    vqvae: RVQVAE
    prior: TokenPrior | None
    vqvae_digest: str


# --- the table of edits --------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One registered edit: its function, the parameters it takes from a selection, and the
    names (with defaults) its keyword catch-all takes."""

    function: Callable[..., CodeGrid]
    selection: Callable[[Region], dict[str, Any]]
    keywords: dict[str, Any]

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def summary(self) -> str:
        return " ".join((inspect.getdoc(self.function) or self.name).split("\n\n")[0].split())

    @cached_property
    def _signature(self) -> tuple[inspect.Signature, dict[str, Any]]:
        """The function's signature and its parameters' types (annotations are strings here)."""
        return inspect.signature(self.function), typing.get_type_hints(self.function)

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """What a session records for this edit: name -> default (``REQUIRED`` where none). The
        model is not one; the second grid is ``source``; a keyword catch-all adds ``keywords``."""
        signature, types = self._signature
        named: dict[str, Any] = {}
        for name, parameter in list(signature.parameters.items())[1:]:
            if parameter.kind is parameter.VAR_KEYWORD:
                named.update(self.keywords)
            elif types.get(name) is not EditableModel:
                named[SOURCE if types.get(name) is CodeGrid else name] = parameter.default
        return named

    @property
    def defaults(self) -> dict[str, Any]:
        return {name: default for name, default in self.parameters.items() if default is not REQUIRED}

    def __call__(
        self, grid: CodeGrid, params: dict[str, Any], *, model: Any, source: Callable[[Any], CodeGrid]
    ) -> CodeGrid:
        """This edit of ``grid`` with JSON ``params``: the model passed where it is taken, the
        second grid looked up by ``source`` from its name, a region built from its JSON."""
        unknown = [name for name in params if name not in self.parameters]
        if unknown:
            raise UserError(f"{self.name}: got an unexpected keyword argument {unknown[0]!r}.")
        signature, types = self._signature
        params, arguments = dict(params), {}
        for name in list(signature.parameters)[1:]:  # in order: a missing region is named first
            if types.get(name) is EditableModel:
                arguments[name] = model
            elif types.get(name) is CodeGrid:
                arguments[name] = source(params.pop(SOURCE, None))
            elif types.get(name) is Region:
                arguments[name] = Region.from_json(params.pop(name, None))
        arguments.update(params)
        try:
            signature.bind(grid, **arguments)
        except TypeError as error:  # a required parameter missing
            raise UserError(f"{self.name}: {error}.") from None
        return self.function(grid, **arguments)


EDITS: dict[str, Edit] = {}  # name -> edit, in the order defined here (the widget's menu order)
REQUIRED = inspect.Parameter.empty  # the default of a parameter that has none
_Function = TypeVar("_Function", bound=Callable[..., CodeGrid])


def _nothing(region: Region) -> dict[str, Any]:
    return {}


def _columns(region: Region) -> dict[str, Any]:
    return {"start": region.start, "stop": region.stop}


def edit(
    *, selection: Callable[[Region], dict[str, Any]] = _nothing, keywords: dict[str, Any] | None = None
) -> Callable[[_Function], _Function]:
    """Register the decorated function in ``EDITS`` under its own name. ``selection`` gives the
    parameters a selected region fills (the others: their defaults, or what the caller passes);
    ``keywords``: the names its ``**`` parameter takes, with their defaults."""

    def register(function: _Function) -> _Function:
        EDITS[function.__name__] = Edit(function, selection, keywords or {})
        return function

    return register


def find(name: str) -> Edit:
    """The edit called ``name``; an unknown one is a UserError naming the known ones."""
    if name not in EDITS:
        raise UserError(f"unknown edit {name!r}; the edits are {', '.join(EDITS)}.")
    return EDITS[name]


def _check(model: EditableModel, *grids: CodeGrid, needs_prior: bool = False) -> None:
    for grid in grids:
        grid.check_model(model.vqvae_digest, model.name)
    if needs_prior and model.prior is None:
        raise UserError(f"Model {model.name} has no prior, which this edit samples from.")


# --- copying codes -------------------------------------------------------------------------------


@edit(selection=lambda region: {"region": region.to_json()})
def transplant(target: CodeGrid, region: Region, source: CodeGrid, source_start: int = 0) -> CodeGrid:
    """``target`` with ``region`` replaced by the same rows and levels of ``source``'s columns
    ``source_start..source_start + region.width``."""
    if not target.same_space(source):
        raise UserError("cannot transplant between code grids of different models or shapes.")
    levels, rows, columns = region.index(target)
    from_region = replace(region, start=source_start, stop=source_start + region.width)
    _, _, from_columns = from_region.index(source)
    codes = target.codes.clone()
    codes[levels, rows, columns] = source.codes[levels, rows, from_columns]
    return replace(target, codes=codes)


# --- resampling with the prior -------------------------------------------------------------------


def _left_context(prior: TokenPrior, grid: CodeGrid, start: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """The columns before ``start`` the prior can see at once, and where in the sound they begin
    (the sampler's ``file_start`` and ``elapsed``)."""
    first = max(0, start - (prior.context_columns - 1))
    return grid.codes[..., first:start], {"file_start": first == 0, "elapsed": first}


def _levels_from(region: Region) -> dict[str, Any]:
    """The selected columns, resampled from the first selected level up (level 0 is always kept)."""
    return {
        "from_level": max(1, region.levels[0]) if region.levels else 1,
        "columns": [region.start, region.stop],
    }


@edit(selection=_levels_from, keywords=SAMPLING)
def vary_levels(
    grid: CodeGrid,
    model: EditableModel,
    *,
    from_level: int,
    seed: int,
    columns: tuple[int, int] | None = None,
    **sampling: float,
) -> CodeGrid:
    """Levels ``0..from_level-1`` kept, levels ``from_level..`` resampled with the prior, in
    ``columns`` (a ``(start, stop)`` range; None = the whole grid). ``from_level == levels`` keeps
    everything. ``sampling``: temperature, top_k, top_p (generation's defaults)."""
    _check(model, grid, needs_prior=True)
    if not 1 <= from_level <= grid.levels:
        raise UserError(f"from_level must be in 1..{grid.levels} (levels kept below it), got {from_level}.")
    _, _, span = Region(*(columns or (0, grid.columns))).index(grid)
    if from_level == grid.levels:
        return grid
    prompt, place = _left_context(model.prior, grid, span.start)
    fixed = grid.codes[..., span].clone()
    fixed[from_level:] = -1
    new = sample(
        model.prior,
        n_columns=fixed.shape[-1],
        seed=seed,
        prompt=prompt,
        **place,
        fixed=fixed,
        **{**SAMPLING, **sampling},
    )
    codes = grid.codes.clone()
    codes[..., span] = new[..., prompt.shape[-1] :].cpu()
    return replace(grid, codes=codes)


@edit(selection=_columns, keywords=SAMPLING)
def infill(
    grid: CodeGrid,
    model: EditableModel,
    *,
    start: int,
    stop: int,
    seed: int,
    candidates: int = INFILL_CANDIDATES,
    **sampling: float,
) -> CodeGrid:
    """Columns ``start..stop`` resampled so they follow their left side and lead into their right
    side: ``candidates`` samples, the one after which the prior finds the right-hand columns
    likeliest is kept (``candidates=1``: left-only resampling)."""
    _check(model, grid, needs_prior=True)
    Region(start, stop).index(grid)
    if candidates < 1:
        raise UserError(f"candidates must be >= 1, got {candidates}.")
    prior = model.prior
    prompt, place = _left_context(prior, grid, start)
    drawn = sample_batch(
        prior,
        batch_size=candidates,
        n_columns=stop - start,
        seed=seed,
        prompt=prompt[None].expand(candidates, -1, -1, -1),
        **place,
        **{**SAMPLING, **sampling},
    )[..., prompt.shape[-1] :].cpu()  # [N, Q, R, stop - start]
    best = 0
    if candidates > 1 and stop < grid.columns:
        best = int(right_context_nll(prior, grid, drawn, start=start).argmin())
    codes = grid.codes.clone()
    codes[..., start:stop] = drawn[best]
    return replace(grid, codes=codes)


def right_context_nll(prior: TokenPrior, grid: CodeGrid, fills: torch.Tensor, *, start: int) -> torch.Tensor:
    """NLL (nats) of the columns after a filled region, for each fill [N, Q, R, W] of columns
    ``start..start+W``: how well each joins its right side, as the prior judges it within one
    window (up to a quarter window of right-hand columns, after as much left side as fits)."""
    stop = start + fills.shape[-1]
    right = min(grid.columns - stop, max(1, prior.context_columns // 4))
    first = max(0, stop + right - prior.context_columns)  # the window's first column
    count = fills.shape[0]
    windows = torch.cat(
        [
            grid.codes[None, ..., first:start].expand(count, -1, -1, -1),
            fills[..., max(0, first - start) :],  # a fill longer than the window: its end
            grid.codes[None, ..., stop : stop + right].expand(count, -1, -1, -1),
        ],
        dim=-1,
    )
    return continuation_nll(
        prior, windows, start_column=windows.shape[-1] - right, file_start=first == 0, elapsed=first
    )


# --- latent space --------------------------------------------------------------------------------


@edit()
def morph(
    a: CodeGrid, b: CodeGrid, model: EditableModel, *, weight: float | Sequence[float] = 0.5
) -> CodeGrid:
    """``a`` turned towards ``b``: their latents mixed as ``(1 - w) a + w b`` and re-quantized.

    ``weight``: one number in [0, 1], or a curve of them spread evenly over the columns (e.g.
    ``[0, 1]``: from ``a`` to ``b``). The result is as long as the shorter grid.
    """
    _check(model, a, b)
    columns = min(a.columns, b.columns)
    curve = torch.as_tensor(
        [weight] if isinstance(weight, int | float) else list(weight), dtype=torch.float32
    )
    if curve.numel() == 0 or curve.dim() != 1 or not bool(((curve >= 0) & (curve <= 1)).all()):
        raise UserError(f"morph weights must be numbers in [0, 1], got {weight!r}.")
    if curve.numel() > 1:  # a curve: linear between its points, across the columns
        where = torch.linspace(0, curve.numel() - 1, columns)
        low = where.floor().long().clamp(max=curve.numel() - 2)
        curve = curve[low] + (where - low) * (curve[low + 1] - curve[low])
    quantizer = model.vqvae.quantizer
    device = next(quantizer.parameters(), torch.empty(0)).device
    with torch.inference_mode():
        latent_a = quantizer.codes_to_latent(a.codes[None, ..., :columns].to(device))  # [1, D, R, C]
        latent_b = quantizer.codes_to_latent(b.codes[None, ..., :columns].to(device))
        mix = curve.to(device).view(1, 1, 1, -1)
        codes = quantizer((1 - mix) * latent_a + mix * latent_b).codes[0].cpu()
    # The ends are the grids themselves: re-quantizing a grid's own latent level by level need
    # not give back its codes (level 0's nearest code to the sum of all levels may be another).
    codes = torch.where(
        curve == 0, a.codes[..., :columns], torch.where(curve == 1, b.codes[..., :columns], codes)
    )
    return replace(a, codes=codes, n_frames=a.n_frames if a.columns == columns else b.n_frames)


# --- time ----------------------------------------------------------------------------------------


@edit(selection=_columns)
def cut(grid: CodeGrid, start: int, stop: int) -> CodeGrid:
    """``grid`` without columns ``start..stop``."""
    Region(start, stop).index(grid)
    if stop - start == grid.columns:
        raise UserError("cannot cut every column: nothing would be left.")
    pieces = [grid.slice_columns(0, start)] if start else []
    if stop < grid.columns:
        pieces.append(grid.slice_columns(stop))
    return pieces[0].concat(*pieces[1:])


@edit(selection=_columns)
def loop(grid: CodeGrid, start: int, stop: int, times: int = 2) -> CodeGrid:
    """Columns ``start..stop`` played ``times`` times in a row (1 = unchanged)."""
    Region(start, stop).index(grid)
    if times < 1:
        raise UserError(f"times must be >= 1, got {times}.")
    pieces = [grid.slice_columns(0, start)] if start else []
    pieces += [grid.slice_columns(start, stop)] * times
    if stop < grid.columns:
        pieces.append(grid.slice_columns(stop))
    return pieces[0].concat(*pieces[1:])


def silence(model: EditableModel, like: CodeGrid, columns: int) -> CodeGrid:
    """``columns`` columns of digital silence as ``model`` encodes it, in ``like``'s code space."""
    _check(model, like)
    if columns < 1:
        raise UserError(f"silence needs >= 1 column, got {columns}.")
    frames = like.frames_per_column * (columns + 4)  # margins: edge columns see the conv padding
    mel = model.vqvae.silence.expand(-1, -1, frames)  # [1, n_mels, frames]: what the RVQ-VAE pads with
    with torch.inference_mode():
        codes = model.vqvae.encode(mel)[0, ..., 2 : 2 + columns].cpu()
    return replace(like, codes=codes, n_frames=columns * like.frames_per_column)


@edit(selection=lambda region: {"at": region.start, "columns": region.width})
def insert_silence(grid: CodeGrid, model: EditableModel, *, at: int, columns: int) -> CodeGrid:
    """``columns`` columns of silence inserted before column ``at`` (``at == columns``: at the end)."""
    if not 0 <= at <= grid.columns:
        raise UserError(f"column {at} is outside the grid, which has columns 0..{grid.columns}.")
    gap = silence(model, grid, columns)
    if at == grid.columns:
        return grid.concat(gap)
    tail = grid.slice_columns(at)
    return gap.concat(tail) if at == 0 else grid.slice_columns(0, at).concat(gap, tail)


@edit(keywords=SAMPLING)
def join(
    a: CodeGrid,
    b: CodeGrid,
    model: EditableModel,
    *,
    bridge_columns: int = 2,
    seed: int,
    candidates: int = INFILL_CANDIDATES,
    **sampling: float,
) -> CodeGrid:
    """``a``, then ``bridge_columns`` columns infilled to lead from ``a`` into ``b``, then ``b``."""
    _check(model, a, b, needs_prior=True)
    if bridge_columns < 1:
        raise UserError(f"a bridge needs >= 1 column, got {bridge_columns}.")
    joined = a.concat(silence(model, a, bridge_columns), b)  # the silent columns are then infilled
    return infill(
        joined,
        model,
        start=a.columns,
        stop=a.columns + bridge_columns,
        seed=seed,
        candidates=candidates,
        **sampling,
    )
