"""Does the prior copy its training set? Verbatim-overlap measures on code grids [Q, R, C].

Three measures per grid, all against every training grid:

- window share: the fraction of the grid's ``window``-column windows that occur verbatim (all
  levels and rows equal) somewhere in a training grid;
- longest run: the longest run of consecutive columns that occurs verbatim in one training grid;
- nearest similarity: for each ``window``-column window, the share of its codes equal to those of
  the most similar training window, averaged over the grid's windows. Verbatim matches of whole
  columns (4 levels x 8 rows = 32 codes) are rare even for a prior that has learned its training
  files by heart, because one differing residual code breaks them; a copying prior still lands
  near its training windows code by code, which this measure sees. (On 67 drum hits a prior
  trained far past its best validation loss scored 0.28 against 0.18 for held-out files; at its
  best checkpoint 0.22.)

Raw overlap means little on its own (a collection of near-identical drum hits shares windows
legitimately), so the same measures on held-out validation grids, which the prior never saw, are
the baseline: a prior that generalises overlaps the training set about as much as unseen real
clips do. Lookups are exact: each distinct column gets an integer id, windows are the bytes of
their id run, and Python sets compare them, so a hash collision can never fake a match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

Grid = torch.Tensor | np.ndarray  # integer codes [Q, R, C]


def _columns(grid: Grid) -> np.ndarray:
    """[Q, R, C] -> [C, Q*R] int64, one row per column."""
    array = grid.detach().cpu().numpy() if isinstance(grid, torch.Tensor) else np.asarray(grid)
    if array.ndim != 3:
        raise ValueError(f"expected a code grid [Q, R, C], got shape {array.shape}")
    return np.ascontiguousarray(array.reshape(-1, array.shape[-1]).T.astype(np.int64))


class TrainingIndex:
    """Column and window lookup tables over the training grids (windows built lazily per length)."""

    def __init__(self, training: Sequence[Grid]) -> None:
        if not training:
            raise ValueError("memorization needs at least one training grid")
        self._column_ids: dict[bytes, int] = {}
        self._sequences: list[np.ndarray] = []  # column-id run of each training grid
        self._codes: list[np.ndarray] = []  # [C, Q*R] codes of each training grid
        for grid in training:
            columns = _columns(grid)
            self._codes.append(columns)
            ids = [self._column_ids.setdefault(col.tobytes(), len(self._column_ids)) for col in columns]
            self._sequences.append(np.asarray(ids, dtype=np.int64))
        self._shape = _columns(training[0]).shape[1]
        self._windows: dict[int, set[bytes]] = {}
        self._window_matrices: dict[int, np.ndarray] = {}
        self.max_columns = max(len(seq) for seq in self._sequences)

    def ids(self, grid: Grid) -> np.ndarray:
        """Column ids [C] of any grid; -1 for a column absent from the training set."""
        columns = _columns(grid)
        if columns.shape[1] != self._shape:
            raise ValueError(
                f"grid has {columns.shape[1]} codes per column, training grids have {self._shape}"
            )
        return np.asarray([self._column_ids.get(col.tobytes(), -1) for col in columns], dtype=np.int64)

    def windows(self, length: int) -> set[bytes]:
        """Every run of ``length`` consecutive training columns, as bytes of its id run."""
        if length not in self._windows:
            self._windows[length] = {
                seq[start : start + length].tobytes()
                for seq in self._sequences
                for start in range(len(seq) - length + 1)
            }
        return self._windows[length]

    def _found(self, ids: np.ndarray, length: int) -> list[bool]:
        table = self.windows(length)
        return [ids[start : start + length].tobytes() in table for start in range(len(ids) - length + 1)]

    def window_matrix(self, length: int) -> np.ndarray:
        """Every run of ``length`` training columns as one row of codes, [N, length * Q * R]."""
        if length not in self._window_matrices:
            rows = [
                np.concatenate(self._codes[index][start : start + length])
                for index, seq in enumerate(self._sequences)
                for start in range(len(seq) - length + 1)
            ]
            self._window_matrices[length] = np.stack(rows) if rows else np.zeros((0, 1), dtype=np.int64)
        return self._window_matrices[length]

    def nearest_similarity(self, grid: Grid, *, window: int) -> float | None:
        """Mean over the grid's windows of the share of codes equal to the closest training window."""
        table = self.window_matrix(window)
        columns = _columns(grid)
        if len(columns) < window or not len(table):
            return None
        best = [
            float((table == columns[start : start + window].reshape(-1)).mean(axis=1).max())
            for start in range(len(columns) - window + 1)
        ]
        return float(np.mean(best))

    def window_share(self, grid: Grid, *, window: int) -> float | None:
        """Share of the grid's ``window``-column windows found verbatim; None if it has fewer columns."""
        if window < 1:
            raise ValueError(f"window must be >= 1 column, got {window}")
        found = self._found(self.ids(grid), window)
        return sum(found) / len(found) if found else None

    def longest_run(self, grid: Grid) -> int:
        """Longest run of consecutive columns of ``grid`` found verbatim in one training grid."""
        ids = self.ids(grid)
        # Monotone (a run of L found implies L-1 found), so binary-search the largest L.
        low, high = 0, min(len(ids), self.max_columns)
        while low < high:
            mid = (low + high + 1) // 2
            if any(self._found(ids, mid)):
                low = mid
            else:
                high = mid - 1
        return low


@dataclass(frozen=True, kw_only=True)
class MemorizationReport:
    """Generated vs held-out overlap with the training set; stored in the model bundle's manifest.

    Flag rule: ``flagged`` when the mean generated window share exceeds BOTH ``ratio_threshold`` x
    the held-out mean share AND ``min_share`` (verbatim copying), or when the mean nearest
    similarity exceeds ``similarity_ratio_threshold`` x the held-out one (near copies). The ratios
    compare with what unseen real clips share; the floor keeps a near-zero baseline (often exactly
    0) from flagging a handful of chance matches. Without a usable held-out baseline only the
    floor applies.
    """

    window: int
    n_generated: int
    n_heldout: int
    generated_share_mean: float
    generated_share_max: float
    generated_run_mean: float
    generated_run_max: int
    heldout_share_mean: float | None  # None: no held-out grid with >= window columns
    heldout_share_max: float | None
    heldout_run_mean: float | None  # None: no held-out grids
    heldout_run_max: int | None
    share_ratio: float | None  # generated / held-out mean share; None when the baseline is 0 or missing
    generated_similarity_mean: float
    heldout_similarity_mean: float | None  # None: no held-out grid with >= window columns
    similarity_ratio: float | None  # generated / held-out mean nearest similarity
    ratio_threshold: float
    min_share: float
    similarity_ratio_threshold: float
    flagged: bool

    def to_dict(self) -> dict[str, float | int | bool | None]:
        """Plain JSON-safe values (no inf/NaN)."""
        return asdict(self)


def _measure(
    index: TrainingIndex, grids: Sequence[Grid], window: int
) -> tuple[list[float], list[int], list[float]]:
    shares = [share for grid in grids if (share := index.window_share(grid, window=window)) is not None]
    runs = [index.longest_run(grid) for grid in grids]
    similar = [sim for grid in grids if (sim := index.nearest_similarity(grid, window=window)) is not None]
    return shares, runs, similar


def memorization_report(
    *,
    generated: Sequence[Grid],
    training: Sequence[Grid],
    heldout: Sequence[Grid],
    window: int,
    ratio_threshold: float,
    min_share: float,
    similarity_ratio_threshold: float,
) -> MemorizationReport:
    """Window share, longest verbatim run and nearest similarity of N generated grids, with
    held-out grids as the baseline.

    Grids shorter than ``window`` columns have no window: they count for the runs, not the shares.
    """
    if ratio_threshold <= 0 or similarity_ratio_threshold <= 0 or not 0 <= min_share <= 1:
        raise ValueError(
            "need ratio_threshold > 0, similarity_ratio_threshold > 0 and min_share in [0, 1], got "
            f"{ratio_threshold}, {similarity_ratio_threshold}, {min_share}"
        )
    index = TrainingIndex(training)
    gen_shares, gen_runs, gen_similar = _measure(index, generated, window)
    if not gen_shares:
        raise ValueError(
            f"no generated grid has >= window={window} columns; generate longer or use a smaller window"
        )
    held_shares, held_runs, held_similar = _measure(index, heldout, window)

    gen_mean = float(np.mean(gen_shares))
    held_mean = float(np.mean(held_shares)) if held_shares else None
    ratio = gen_mean / held_mean if held_mean else None
    copies_windows = gen_mean > min_share and (held_mean is None or gen_mean > ratio_threshold * held_mean)
    gen_similarity = float(np.mean(gen_similar))
    held_similarity = float(np.mean(held_similar)) if held_similar else None
    similarity_ratio = gen_similarity / held_similarity if held_similarity else None
    lands_near_training = similarity_ratio is not None and similarity_ratio > similarity_ratio_threshold
    return MemorizationReport(
        window=window,
        n_generated=len(generated),
        n_heldout=len(heldout),
        generated_share_mean=gen_mean,
        generated_share_max=float(max(gen_shares)),
        generated_run_mean=float(np.mean(gen_runs)),
        generated_run_max=int(max(gen_runs)),
        heldout_share_mean=held_mean,
        heldout_share_max=float(max(held_shares)) if held_shares else None,
        heldout_run_mean=float(np.mean(held_runs)) if held_runs else None,
        heldout_run_max=int(max(held_runs)) if held_runs else None,
        share_ratio=ratio,
        generated_similarity_mean=gen_similarity,
        heldout_similarity_mean=held_similarity,
        similarity_ratio=similarity_ratio,
        ratio_threshold=ratio_threshold,
        min_share=min_share,
        similarity_ratio_threshold=similarity_ratio_threshold,
        flagged=copies_windows or lands_near_training,
    )
