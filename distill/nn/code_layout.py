"""Token order of the code prior: a code grid flattened into one sequence.

docs/DESIGN.md fixes the order: column by column (time), inside a column row by row (freq), inside a
cell level by level. Token ``t`` of a clip therefore sits at

    column = t // (rows * levels),  row = (t // levels) % rows,  level = t % levels

Time is the outermost axis so a clip of any length is one continuous sequence and a window of
consecutive columns is a contiguous slice of it; the coarse level of a cell comes right before its
residual levels so each residual code is predicted knowing the codes it refines.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, kw_only=True)
class CodeLayout:
    """Shape of one grid column: ``levels`` RVQ levels x ``rows`` frequency rows."""

    levels: int
    rows: int

    def __post_init__(self) -> None:
        if self.levels < 1 or self.rows < 1:
            raise ValueError(
                f"CodeLayout needs levels >= 1 and rows >= 1, got levels={self.levels}, rows={self.rows}"
            )

    @property
    def tokens_per_column(self) -> int:
        return self.levels * self.rows

    def _positions(self, length: int, offset: int, device: torch.device | str | None) -> torch.Tensor:
        if length < 0 or offset < 0:
            raise ValueError(f"length and offset must be >= 0, got length={length}, offset={offset}")
        return torch.arange(offset, offset + length, device=device)

    def level_ids(
        self, length: int, *, offset: int = 0, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """RVQ level of tokens ``offset .. offset+length-1`` of a clip, LongTensor [length]."""
        return self._positions(length, offset, device) % self.levels

    def row_ids(
        self, length: int, *, offset: int = 0, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Frequency row of tokens ``offset .. offset+length-1``, LongTensor [length]."""
        return (self._positions(length, offset, device) // self.levels) % self.rows

    def column_ids(
        self, length: int, *, offset: int = 0, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Grid column (time) of tokens ``offset .. offset+length-1``, LongTensor [length]."""
        return self._positions(length, offset, device) // self.tokens_per_column

    def flatten(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, Q, R, C] -> tokens [B, C*R*Q], checking Q and R against this layout."""
        if codes.dim() != 4 or codes.shape[1] != self.levels or codes.shape[2] != self.rows:
            raise ValueError(
                f"expected codes [B, {self.levels}, {self.rows}, C], got shape {tuple(codes.shape)}"
            )
        return flatten_grid(codes)

    def unflatten(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, C*R*Q] -> codes [B, Q, R, C]."""
        return unflatten_tokens(tokens, levels=self.levels, rows=self.rows)


def flatten_grid(codes: torch.Tensor) -> torch.Tensor:
    """codes [B, Q, R, C] -> tokens [B, C*R*Q] in docs/DESIGN.md order (column, then row, then level)."""
    if codes.dim() != 4:
        raise ValueError(f"flatten_grid expects codes [B, Q, R, C], got shape {tuple(codes.shape)}")
    batch = codes.shape[0]
    # [B, Q, R, C] -> [B, C, R, Q]: the last axis varies fastest in the flat sequence.
    return codes.permute(0, 3, 2, 1).reshape(batch, -1)


def unflatten_tokens(tokens: torch.Tensor, *, levels: int, rows: int) -> torch.Tensor:
    """tokens [B, C*R*Q] -> codes [B, Q, R, C]; the inverse of :func:`flatten_grid`.

    The length must be a whole number of columns: a partial column has no grid position.
    """
    if tokens.dim() != 2:
        raise ValueError(f"unflatten_tokens expects tokens [B, T], got shape {tuple(tokens.shape)}")
    per_column = levels * rows
    if tokens.shape[1] % per_column:
        raise ValueError(
            f"token length {tokens.shape[1]} is not a whole number of columns of {per_column} tokens "
            f"(levels={levels} x rows={rows})"
        )
    batch = tokens.shape[0]
    columns = tokens.shape[1] // per_column
    return tokens.reshape(batch, columns, rows, levels).permute(0, 3, 2, 1).contiguous()
