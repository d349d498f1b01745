"""Column prior: a temporal transformer over code columns and a small depth transformer inside each.

The flat prior (:class:`~distill.nn.prior.CodePrior`) runs its whole depth and width once per
token: rows x levels tokens (32 at 8 rows x 4 levels) for every 186 ms column. Here, as in the
RQ-Transformer (Lee et al., CVPR 2022, "Autoregressive Image Generation using Residual
Quantization") and Moshi's depth transformer, the big model runs once per column:

- the **temporal** transformer reads one vector per column (the sum of its tokens' embeddings,
  one table row per (row, level, code)) and gives, at window column c, a context for column c
  from the columns before it (position 0 holds the window's START/BOS vector, as the flat prior);
- the **depth** transformer, narrow and shallow, predicts column c's tokens one by one in the
  fixed token order (row by row, level by level inside a row; docs/DESIGN.md), each from that
  context and the column's tokens before it. Its sequence is one column long.

Token-level interface: the same window convention, cache protocol (``prime`` / ``forward_step`` /
``length`` / ``capacity``) and :class:`~distill.nn.prior.PriorOutput` as the flat prior, so
sampling, fixed tokens, infill scoring and the memorization check use either unchanged. Windows
start at whole columns (training windows and the sampler's slides always do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distill.nn.controls import ControlEmbedding
from distill.nn.prior import PriorOutput, TokenPrior
from distill.nn.transformer import KVCache, PriorBlock, init_gpt2_weights


@dataclass(kw_only=True)
class ColumnCache:
    """Sampling state of a :class:`ColumnPrior`: the temporal keys/values of the window's columns,
    the depth keys/values of the column being drawn, its context and its tokens so far.

    ``length`` counts window positions as the flat prior's cache does (start token + tokens held),
    so the sampler slides both kinds at the same moment.
    """

    temporal: KVCache  # capacity: context_columns positions (start + columns 0..C-2)
    depth: KVCache  # capacity: one column's tokens
    context: torch.Tensor  # [B, depth_hidden] of the column being drawn
    column_tokens: torch.Tensor  # [B, tokens_per_column] held tokens of that column
    capacity: int  # window positions: context_columns * tokens_per_column
    length: int = 0
    offset: int = 0

    @property
    def batch_size(self) -> int:
        return self.column_tokens.shape[0]


class ColumnPrior(TokenPrior):
    """Autoregressive prior over code grids, factored into columns (see the module docstring).

    Parameters: ``hidden``/``layers``/``heads`` size the temporal transformer (the tier's prior
    width and depth), ``depth_hidden``/``depth_layers``/``depth_heads`` the depth transformer.
    """

    def __init__(
        self,
        *,
        levels: int,
        rows: int,
        codebook_size: int,
        hidden: int,
        layers: int,
        heads: int,
        depth_hidden: int,
        depth_layers: int,
        depth_heads: int,
        context_columns: int,
        dropout: float,
        controls: int = 0,
    ) -> None:
        super().__init__(
            levels=levels,
            rows=rows,
            codebook_size=codebook_size,
            context_columns=context_columns,
            controls=controls,
        )
        per_column = self.layout.tokens_per_column
        self.num_layers, self.num_heads = layers, heads
        self.depth_layers, self.depth_heads = depth_layers, depth_heads
        # Temporal: a column is the sum of its tokens' embeddings, one row per (slot, code).
        self.column_embedding = nn.Embedding(per_column * codebook_size, hidden)
        self.window_start_embedding = nn.Embedding(2, hidden)  # 0: BOS (inside a sound), 1: START
        self.column_position_embedding = nn.Embedding(context_columns, hidden)
        self.temporal_blocks = nn.ModuleList(
            PriorBlock(hidden=hidden, heads=heads, dropout=dropout) for _ in range(layers)
        )
        self.temporal_norm = nn.LayerNorm(hidden)
        self.to_depth = nn.Linear(hidden, depth_hidden)
        # Depth: the held token of the previous slot and the slot being predicted.
        self.depth_code_embedding = nn.Embedding(per_column * codebook_size, depth_hidden)
        self.slot_embedding = nn.Embedding(per_column, depth_hidden)
        self.depth_blocks = nn.ModuleList(
            PriorBlock(hidden=depth_hidden, heads=depth_heads, dropout=dropout) for _ in range(depth_layers)
        )
        self.depth_norm = nn.LayerNorm(depth_hidden)
        # One head per RVQ level, as the flat prior (code k means different things per level).
        self.level_heads = nn.ModuleList(nn.Linear(depth_hidden, codebook_size) for _ in range(levels))
        self.drop = nn.Dropout(dropout)
        if controls:
            self.control_embedding = ControlEmbedding(count=controls, hidden=hidden)
        self._init_weights()

    def _init_weights(self) -> None:
        init_gpt2_weights(self, self.temporal_blocks, self.depth_blocks)
        # A column vector sums tokens_per_column rows: keep its scale that of one embedding.
        nn.init.normal_(self.column_embedding.weight, std=0.02 / math.sqrt(self.layout.tokens_per_column))

    @property
    def device(self) -> torch.device:
        return self.column_embedding.weight.device

    # ---------------------------------------------------------------- pieces

    def _slot_ids(self, columns: torch.Tensor) -> torch.Tensor:
        """columns [..., P] of codes -> ids in the (slot, code) tables."""
        slots = torch.arange(columns.shape[-1], device=columns.device) * self.codebook_size
        return slots + columns

    def _temporal_inputs(
        self,
        columns: torch.Tensor,
        file_start: torch.Tensor | bool,
        start: int,
        controls: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Held columns [B, C, P] at window columns start.. (position 0 gets the start vector, and
        the request's embedding where the window begins a sound) -> [B, C(+1), H]."""
        x = self.column_embedding(self._slot_ids(columns)).sum(dim=2)  # [B, C, H]
        if start == 0:
            flags = torch.as_tensor(file_start, device=columns.device).expand(columns.shape[0]).long()
            opening = self.window_start_embedding(flags)
            request = self._opening(controls, file_start, columns.shape[0])
            if request is not None:  # position 0 predicts the first column (see TokenPrior)
                opening = opening + request
            x = torch.cat([opening[:, None], x], dim=1)
        positions = torch.arange(start, start + x.shape[1], device=columns.device)
        return x + self.column_position_embedding(positions)

    def _temporal(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """Temporal stack on x [B, C, H] -> depth contexts [B, C, depth_hidden]."""
        x = self.drop(x)
        for layer, block in enumerate(self.temporal_blocks):
            x = block(x, cache=cache, layer=layer)
        return self.to_depth(self.temporal_norm(x))

    def _depth_inputs(self, context: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
        """context [N, Dh]; held [N, S] tokens of a column's slots 0..S-1 -> depth inputs [N, S+1, Dh]
        predicting slots 0..S (slot 0 holds nothing but the context)."""
        x = self.depth_code_embedding(self._slot_ids(held))
        x = torch.cat([x.new_zeros(x.shape[0], 1, x.shape[2]), x], dim=1)
        slots = torch.arange(x.shape[1], device=held.device)
        return x + self.slot_embedding(slots) + context[:, None]

    def _depth(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        # Functional calls: a sampling step runs this once per token (see PriorBlock.forward).
        x = F.dropout(x, self.drop.p, self.training)
        for layer, block in enumerate(self.depth_blocks):
            x = block(x, cache=cache, layer=layer)
        norm = self.depth_norm
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    def _head(self, h: torch.Tensor, slot: int) -> torch.Tensor:
        head = self.level_heads[slot % self.layout.levels]
        return F.linear(h, head.weight, head.bias)

    # ---------------------------------------------------------------- teacher forcing

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        offset: int = 0,
        file_start: torch.Tensor | bool = False,
        controls: torch.Tensor | None = None,
    ) -> PriorOutput:
        """Teacher-forced logits for tokens [B, T] (clip tokens offset..offset+T-1), T <= context_tokens.

        ``offset`` must be a whole number of columns. A partial last column is padded inside and
        its padding's logits dropped (causal: padding never reaches an earlier token).
        """
        batch, length = tokens.shape
        per_column = self.layout.tokens_per_column
        if not 1 <= length <= self.context_tokens:
            raise ValueError(f"window of {length} tokens; must be 1..{self.context_tokens} (context_tokens)")
        if offset % per_column:
            raise ValueError(f"a column prior's window starts at a whole column; offset {offset} is not")
        columns = -(-length // per_column)
        padded = F.pad(tokens, (0, columns * per_column - length)).view(batch, columns, per_column)
        inputs = self._temporal_inputs(padded[:, :-1], file_start, 0, controls if offset == 0 else None)
        context = self._temporal(inputs, None)  # [B, C, Dh]
        held = padded.reshape(batch * columns, per_column)[:, :-1]
        depth_in = self._depth_inputs(context.reshape(batch * columns, -1), held)
        h = self._depth(depth_in, cache=None).view(batch, columns * per_column, -1)[:, :length]
        logits = h.new_empty(batch, length, self.codebook_size)
        levels = self.layout.levels
        for level, head in enumerate(self.level_heads):
            logits[:, level::levels] = head(h[:, level::levels])  # offset is whole columns: slot level first
        level_ids = self.layout.level_ids(length, offset=offset, device=tokens.device)
        return PriorOutput(logits=logits, level_ids=level_ids, levels=levels)

    # ---------------------------------------------------------------- sampling

    def new_cache(
        self, batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> ColumnCache:
        param = self.column_embedding.weight
        kwargs = {"device": device or param.device, "dtype": dtype or param.dtype}
        hidden, depth_hidden = param.shape[1], self.to_depth.out_features
        per_column = self.layout.tokens_per_column

        def kv(layers: int, heads: int, width: int, capacity: int) -> KVCache:
            shape = (layers, batch_size, heads, capacity, width // heads)
            return KVCache(keys=torch.zeros(shape, **kwargs), values=torch.zeros(shape, **kwargs))

        return ColumnCache(
            temporal=kv(self.num_layers, self.num_heads, hidden, self.context_columns),
            depth=kv(self.depth_layers, self.depth_heads, depth_hidden, per_column),
            context=torch.zeros(batch_size, depth_hidden, **kwargs),
            column_tokens=torch.zeros(batch_size, per_column, dtype=torch.long, device=kwargs["device"]),
            capacity=self.context_tokens,
        )

    def prime(
        self,
        cache: ColumnCache,
        tokens: torch.Tensor,
        *,
        offset: int,
        file_start: bool = False,
        controls: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Start a window at clip token ``offset`` (a whole column) from known tokens [B, T]; logits
        [B, K] for clip token offset+T. The temporal cache gets the whole columns in one pass, the
        depth cache the tokens of the partial one."""
        batch, length = tokens.shape
        per_column = self.layout.tokens_per_column
        if length + 1 > cache.capacity:
            raise ValueError(
                f"cannot prime {length} tokens: a window holds BOS + {cache.capacity - 1} tokens"
            )
        if batch != cache.batch_size:
            raise ValueError(f"tokens batch {batch} != cache batch {cache.batch_size}")
        if offset % per_column:
            raise ValueError(f"a column prior's window starts at a whole column; offset {offset} is not")
        whole, part = divmod(length, per_column)
        cache.offset, cache.length = offset, length + 1
        cache.temporal.reset(offset=0)
        columns = tokens[:, : whole * per_column].view(batch, whole, per_column)
        inputs = self._temporal_inputs(columns, file_start, 0, controls if offset == 0 else None)
        context = self._temporal(inputs, cache.temporal)
        cache.temporal.length = whole + 1
        cache.context = context[:, -1]
        cache.column_tokens[:, :part] = tokens[:, whole * per_column :]
        cache.depth.reset(offset=0)
        h = self._depth(self._depth_inputs(cache.context, cache.column_tokens[:, :part]), cache=cache.depth)
        cache.depth.length = part + 1
        return self._head(h[:, -1], part)

    def forward_step(self, cache: ColumnCache, token: torch.Tensor) -> torch.Tensor:
        """Feed the last sampled token [B]; logits [B, K] for the next (see the flat prior's)."""
        position = cache.length
        if position == 0:
            raise ValueError("the cache is empty: call prime() first (it places the BOS token)")
        if position >= cache.capacity:
            raise ValueError(f"the cache is full ({cache.capacity} positions): slide the window with prime()")
        per_column = self.layout.tokens_per_column
        column, slot = divmod(position - 1, per_column)  # of the held token, in the window
        cache.column_tokens[:, slot] = token
        cache.length = position + 1
        if slot == per_column - 1:  # the column is complete: one temporal step, a fresh depth sequence
            x = self._temporal_inputs(cache.column_tokens[:, None], False, column + 1)
            cache.context = self._temporal(x, cache.temporal)[:, 0]
            cache.temporal.length += 1
            cache.depth.reset(offset=0)
            x = cache.context + self.slot_embedding.weight[0]
            h = self._depth(x[:, None], cache=cache.depth)
            cache.depth.length = 1
            return self._head(h[:, 0], 0)
        x = (
            self.depth_code_embedding.weight[slot * self.codebook_size + token]
            + self.slot_embedding.weight[slot + 1]
            + cache.context
        )
        h = self._depth(x[:, None], cache=cache.depth)
        cache.depth.length += 1
        return self._head(h[:, 0], slot + 1)
