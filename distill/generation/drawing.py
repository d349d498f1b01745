"""A sound's codes drawn from the prior: where a one-shot ends, a one-shot that begins with
silence drawn again, and a batch of draws for a request to choose from
(``distill.generation.candidates``). The pipeline (``distill.generation.pipeline``) decodes and
renders what this draws.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial

import torch

from distill.audio.envelope import CollectionShape, column_levels
from distill.codes.sampling import sample, sample_batch
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE

# A one-shot whose first column is silence has not begun: it is drawn again, from seeds derived
# from its own (so a remake from the sidecar redraws the same way), at most this many times. An
# earlier column-factored prior trained on a drum kit put 16 % of its probability on silence for a
# sound's first column (the flat prior 3 %), and its silent "one-shots" ran to the maximum length.
SILENT_START_REDRAWS = 8


@dataclass(frozen=True)
class Drawn:
    """One draw: the prompt's columns then the new ones, codes [Q, R, C]."""

    codes: torch.Tensor
    new_frames: int  # mel frames of the new columns that belong to the sound
    silent_start: bool  # a one-shot whose first column is silence (kept only when nothing else is)


@dataclass(frozen=True)
class DrawRequest:
    """What every draw of one sound shares."""

    prior: TokenPrior
    vqvae: RVQVAE
    shape: CollectionShape | None  # the collection's, for where a one-shot ends
    one_shot: bool
    n_columns: int
    new_frames: int  # asked for: the most a sound may have
    temperature: float
    top_k: int
    top_p: float
    prompt: torch.Tensor | None  # [Q, R, C_p] whole columns, or None (a sound from its start)
    controls: torch.Tensor | None
    guidance: float

    @property
    def prompt_columns(self) -> int:
        return 0 if self.prompt is None else self.prompt.shape[-1]

    def sampling(self) -> dict:
        return dict(
            prior=self.prior,
            n_columns=self.n_columns,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            file_start=self.prompt is None,
            controls=self.controls,
            guidance=self.guidance,
        )

    def levels(self, codes: torch.Tensor) -> torch.Tensor:
        """Column levels [C] of the new columns of codes [Q, R, C]."""
        return _levels(self.vqvae, codes[..., self.prompt_columns :])

    def starts_silent(self, levels: torch.Tensor) -> bool:
        return self.prompt is None and len(levels) >= 1 and self.shape.is_silent(float(levels[0]))

    def finish(self, codes: torch.Tensor, end: int | None, *, silent_start: bool = False) -> Drawn:
        """A drawn grid cut after its end (one quiet column kept as its tail)."""
        new_frames = self.new_frames
        if self.one_shot:
            if end is None:  # sampling asks after each column but the last: judged here
                end = self.shape.ended_at(self.levels(codes))
            if end is not None:
                codes = codes[..., : self.prompt_columns + end + 1]
            per_column = self.vqvae.frames_per_column
            new_frames = min(new_frames, (codes.shape[-1] - self.prompt_columns) * per_column)
        return Drawn(codes=codes, new_frames=new_frames, silent_start=silent_start)


def draw_one(request: DrawRequest, seed: int) -> Drawn:
    """One sound; a one-shot that begins with silence is drawn again (``SILENT_START_REDRAWS``)."""
    found: list[int] = []  # where the sound decayed, when sampling stopped there
    silent: list[bool] = []  # a one-shot's first column was silence: stop, draw again

    def decayed(grid: torch.Tensor, *, may_redraw: bool) -> bool:  # grid [Q, R, C] so far
        levels = request.levels(grid)
        if may_redraw and len(levels) == 1 and request.starts_silent(levels):
            silent.append(True)
            return True
        end = request.shape.ended_at(levels)
        if end is not None:
            found.append(end)
        return end is not None

    for redraw in range(SILENT_START_REDRAWS + 1):
        found.clear()
        silent.clear()
        codes = sample(
            **request.sampling(),
            seed=seed if redraw == 0 else redraw_seed(seed, redraw),
            prompt=request.prompt,
            # The last draw is kept whatever it begins with, as a one-shot was before redraws.
            until=partial(decayed, may_redraw=redraw < SILENT_START_REDRAWS) if request.one_shot else None,
        )
        if not silent:
            break
    return request.finish(codes, found[0] if found else None)


def draw_batch(request: DrawRequest, seed: int, count: int) -> list[Drawn]:
    """``count`` sounds drawn as one batch of the prior (from a seed derived from ``seed``). A batch
    runs until every one-shot in it has ended; one that begins with silence is not drawn again but
    marked, so a choice takes it last."""
    ends: dict[int, int | None] = {}  # row -> its end column (None: began silent, judged at the end)
    silent: set[int] = set()

    def all_ended(grids: torch.Tensor) -> bool:  # [count, Q, R, C] so far
        for row in range(count):
            if row in ends:
                continue
            levels = request.levels(grids[row])
            if len(levels) == 1 and request.starts_silent(levels):
                silent.add(row)
                ends[row] = None
                continue
            end = request.shape.ended_at(levels)
            if end is not None:
                ends[row] = end
        return len(ends) == count

    prompt = None if request.prompt is None else request.prompt.expand(count, -1, -1, -1)
    codes = sample_batch(
        **request.sampling(),
        batch_size=count,
        seed=_derived_seed(f"candidates:{seed}"),
        prompt=prompt,
        until=all_ended if request.one_shot else None,
    )
    return [request.finish(codes[row], ends.get(row), silent_start=row in silent) for row in range(count)]


def redraw_seed(seed: int, redraw: int) -> int:
    """The seed of a sound's ``redraw``-th draw: derived from its own, apart from neighbouring seeds."""
    return _derived_seed(f"redraw:{seed}:{redraw}")


def stereo_seed(seed: int) -> int:
    """The seed of the fine codes of a sound's second (stereo) rendering."""
    return _derived_seed(f"stereo:{seed}")


def variation_seed(seed: int, variation: int) -> int:
    """The seed of the fine codes of the ``variation``-th variation of the sound of ``seed``."""
    return _derived_seed(f"variation:{seed}:{variation}")


def _derived_seed(purpose: str) -> int:
    digest = hashlib.sha256(f"distill-{purpose}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


def _levels(vqvae: RVQVAE, grid: torch.Tensor) -> torch.Tensor:
    """Column levels [C] of the mel the RVQ-VAE decodes from grid [Q, R, C] (see distill.audio.envelope)."""
    if grid.shape[-1] == 0:
        return torch.zeros(0)
    with torch.inference_mode():
        return column_levels(vqvae.decode(grid[None])[0], vqvae.frames_per_column)
