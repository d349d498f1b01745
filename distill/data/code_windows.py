"""What the prior trains on, item by item: each file's code grids (the recording and its augmented
takes, with each take's controls), and windows of consecutive columns drawn from them
(``distill.data.codes.CodeGridDataModule`` makes the grids and serves the windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.utils.data import Dataset

from distill.nn.code_layout import flatten_grid

NO_CONTROLS = torch.zeros(0)


@dataclass(frozen=True, kw_only=True)
class FileCodes:
    """The code grid of one recording."""

    grid: torch.Tensor  # [Q, R, C_padded] long; silence-padded to at least one window
    columns: int  # columns of the recording itself (ceil(frames / 16)); the rest is padding
    # Grids of augmented takes, each shaped like ``grid``; int16 (codes < 2^15) to hold 7 takes of
    # a large collection in a quarter of the memory.
    takes: tuple[torch.Tensor, ...] = ()
    # [1 + len(takes), controls]: each take's descriptors relative to the collection (NaN: none),
    # or None for an unconditioned prior.
    controls: torch.Tensor | None = None

    def any_take(self) -> tuple[torch.Tensor, int]:
        """The recording's grid or one of its augmented takes (long), drawn from the global torch
        RNG, and which take it is (0: the recording)."""
        if not self.takes:
            return self.grid, 0
        pick = int(torch.randint(0, len(self.takes) + 1, ()))
        return (self.grid if pick == 0 else self.takes[pick - 1].long()), pick

    def take_controls(self, take: int) -> torch.Tensor:
        """What the prior is conditioned on for a window of take ``take``: [controls], or [0]."""
        return NO_CONTROLS if self.controls is None else self.controls[take]

    @property
    def own(self) -> torch.Tensor:
        """The recording's own columns, [Q, R, columns]: what memorization compares."""
        return self.grid[..., : self.columns]


class CodeWindow(NamedTuple):
    """One prior training item; batches of them stack field by field (default collation)."""

    tokens: torch.Tensor  # [context_columns * R * Q] in the prior's token order; [B, T] batched
    # long scalar: the column of its file the window starts at; [B] batched. A timed prior reads
    # it as the window's age (``TokenPrior``'s ``elapsed``).
    start_column: torch.Tensor
    # [controls] relative descriptors of the window's sound (NaN: none), [0] without; [B, .] batched
    controls: torch.Tensor = NO_CONTROLS

    @property
    def file_start(self) -> torch.Tensor:
        """bool, [B] batched: the window's first column is its file's first (START, not BOS)."""
        return self.start_column == 0


class CodeWindows(Dataset):
    """Windows of consecutive columns (:class:`CodeWindow`), in the prior's token order.

    ``starts`` None: each item draws a random start (training; item i belongs to file i % n);
    ``file_start_share`` of them start at the file's first column. Otherwise a fixed list of
    (file, start column) pairs (validation tiles).

    ``max_gap_columns`` (training): a window may start anywhere in a file and run on past its end,
    through 0..max_gap_columns columns of its silence, into the start of another random file, as
    if the collection were played one sound after another. Without it a one-shot's window is
    always the sound then silence, and a prior never sees a window that starts in silence: after
    its first window slides, a long generation has nothing to go on but silence. With it the
    prior learns that a new sound may begin after a pause, so long generations hold several.
    """

    def __init__(
        self,
        *,
        files: list[FileCodes],
        context_columns: int,
        windows_per_file: int = 1,
        starts: list[tuple[int, int]] | None = None,
        max_gap_columns: int | None = None,
        file_start_share: float = 0.0,
    ) -> None:
        if not 0.0 <= file_start_share <= 1.0:
            raise ValueError(f"file_start_share must be in [0, 1], got {file_start_share}")
        self.files = files
        self.context_columns = context_columns
        self.windows_per_file = windows_per_file
        self.starts = starts
        self.max_gap_columns = max_gap_columns
        self.file_start_share = file_start_share

    def __len__(self) -> int:
        return len(self.starts) if self.starts is not None else len(self.files) * self.windows_per_file

    def __getitem__(self, index: int) -> CodeWindow:
        # Global torch RNG below: seed_everything(workers=True) makes it reproducible per worker and epoch.
        if self.starts is not None:
            file_index, start = self.starts[index]
            grid = self.files[file_index].grid[..., start : start + self.context_columns]
            take = 0
        else:
            file_index = index % len(self.files)
            span = self.files[file_index].grid.shape[-1] - self.context_columns
            if self.max_gap_columns is not None:
                span = self.files[file_index].columns - 1  # run-on windows may start at any own column
            begins = float(torch.rand(())) < self.file_start_share
            start = 0 if begins else int(torch.randint(0, span + 1, ()))
            if self.max_gap_columns is None:
                grid, take = self.files[file_index].any_take()
                grid = grid[..., start : start + self.context_columns]
            else:
                grid, take = self._run_on(file_index, start)
        tokens = flatten_grid(grid[None])[0]  # [context_columns * R * Q]
        controls = self.files[file_index].take_controls(take)
        return CodeWindow(tokens=tokens, start_column=torch.tensor(start), controls=controls)

    def _run_on(self, file_index: int, start: int) -> tuple[torch.Tensor, int]:
        """A window from column ``start`` of the file, continuing into another file after a gap,
        and the take of the file it starts in (the window's controls are that sound's)."""
        codes = self.files[file_index]
        grid, take = codes.any_take()
        gap = int(torch.randint(0, self.max_gap_columns + 1, ()))
        # The padded grid holds the silence after the file (at least up to one window).
        first = min(codes.columns - start + gap, grid.shape[-1] - start, self.context_columns)
        head = grid[..., start : start + first]
        if first == self.context_columns:
            return head, take
        following, _ = self.files[int(torch.randint(0, len(self.files), ()))].any_take()
        return torch.cat([head, following[..., : self.context_columns - first]], dim=-1), take

    @staticmethod
    def tiles(files: list[FileCodes], context_columns: int) -> list[tuple[int, int]]:
        """Consecutive windows covering each file's own columns; the last one aligned to its end."""
        starts = []
        for file_index, codes in enumerate(files):
            file_starts = list(range(0, max(codes.columns - context_columns, 0) + 1, context_columns))
            if file_starts[-1] + context_columns < codes.columns:
                file_starts.append(codes.columns - context_columns)
            starts.extend((file_index, start) for start in file_starts)
        return starts
