"""Decoder-only transformer prior over flattened RVQ code grids, with a preallocated KV cache.

Window convention (shared by training, priming and single steps): a window of ``n`` window
positions predicts clip tokens ``offset .. offset+n-1``. Position ``p`` *holds* clip token
``offset+p-1`` (position 0 holds a start-of-window token) and *predicts* clip token
``offset+p``. So the first token of every window is predicted too.

The start-of-window token says whether the window begins a recording: START for a window whose
first column is a file's first column, BOS for any other (a training window from inside a file,
or generation after a slide). So the prior learns what the beginning of a sound looks like, and
generation can ask for "a new sound from its start" by priming with START. A token rather than an
in-sequence marker because it changes nothing else: every window keeps its length, token order
and positions, and the KV cache's arithmetic is untouched; it costs one embedding row.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distill.nn.code_layout import CodeLayout
from distill.nn.controls import ControlEmbedding, absent
from distill.nn.timing import TimingEmbedding
from distill.nn.transformer import KVCache, PriorBlock, init_gpt2_weights


@dataclass(frozen=True, kw_only=True)
class PriorOutput:
    """Teacher-forced result of :meth:`CodePrior.forward`."""

    logits: torch.Tensor  # [B, T, K]; logits[:, t] predicts tokens[:, t] (in that token's level vocabulary)
    level_ids: torch.Tensor  # [T] RVQ level of each predicted token
    levels: int

    def nll(self, targets: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (nats/token) of targets [B, T]: the training loss."""
        return F.cross_entropy(self.logits.flatten(0, 1), targets.flatten())

    def nll_per_level(self, targets: torch.Tensor) -> torch.Tensor:
        """Mean NLL of each RVQ level's tokens, [levels]; NaN for a level with no token in the window.

        Coarse level 0 should be the hardest; a residual level near log(K) means it is learning nothing.
        """
        per_token = F.cross_entropy(self.logits.transpose(1, 2), targets, reduction="none")  # [B, T]
        sums = per_token.new_zeros(self.levels).index_add(0, self.level_ids, per_token.sum(0))
        counts = torch.bincount(self.level_ids, minlength=self.levels) * targets.shape[0]
        return sums / counts


class TokenPrior(nn.Module, metaclass=abc.ABCMeta):
    """What sampling, edits, infill scoring and packaging need of a prior over code grids, whatever
    its architecture: the token order (``layout``), the window (``context_columns``,
    ``context_tokens``), teacher-forced logits, and cached decoding one token at a time.

    Subclasses: :class:`CodePrior` (flat: one transformer step per token) and
    :class:`~distill.nn.cell_prior.CellPrior` (one step of the big model per cell).
    A cache has ``length`` (window positions filled: start token + tokens held) and ``capacity``.

    ``controls``: how many descriptors the prior is conditioned on (``distill.nn.controls``; 0 =
    none). ``forward`` and ``prime`` take them as [B, controls] relative values, NaN = not asked;
    None asks nothing. The request shapes how a sound *begins*: its embedding is added to the inputs
    that predict the first column of a window that begins a sound, and everything after follows
    from that beginning, as it does in the recordings. Added to every input instead, a 15-minute
    prior on a 23-file drum kit learned to ignore it (the first two columns' NLL 2.530 with the
    file's own controls, 2.534 with none): the gradient of the few tokens it decides drowned in
    that of the 700 others, which the window's own tokens predict anyway.

    ``timing``: the prior reads how far into its sound each column lies (``distill.nn.timing``).
    ``forward`` and ``prime`` take ``elapsed``: the sound's columns before the clip's first token
    (an int, or [B] for a batch of training windows cropped from inside their files); column
    ``c`` of the clip is then column ``elapsed + c`` of its sound. False for model files saved
    before the clock existed: they are rebuilt as they were trained.
    """

    def __init__(
        self,
        *,
        levels: int,
        rows: int,
        codebook_size: int,
        context_columns: int,
        controls: int = 0,
        timing: bool = False,
    ) -> None:
        super().__init__()
        if context_columns < 2:
            # Sliding keeps whole columns and must leave room to re-prime: needs >= 2 columns.
            raise ValueError(f"context_columns must be >= 2, got {context_columns}")
        self.layout = CodeLayout(levels=levels, rows=rows)
        self.codebook_size = codebook_size
        self.context_columns = context_columns
        self.context_tokens = context_columns * self.layout.tokens_per_column
        self.controls = controls
        self.control_embedding: ControlEmbedding | None = None  # built by subclasses at their width
        self.timing = timing
        self.timing_embedding: TimingEmbedding | None = None  # built by subclasses after their init

    def _build_timing(self, hidden: int) -> None:
        """The clock, if the prior has one; after the GPT-2 init, which would undo its zero start."""
        if self.timing:
            self.timing_embedding = TimingEmbedding(hidden=hidden)

    def _clock(self, elapsed: torch.Tensor | int, columns: torch.Tensor) -> torch.Tensor | None:
        """The timing inputs [B or 1, N, H] of N window positions predicting clip columns ``columns``
        [N], for clips that begin ``elapsed`` (int or [B]) columns into their sounds; None without."""
        if self.timing_embedding is None:
            return None
        start = torch.as_tensor(elapsed, device=columns.device).reshape(-1, 1)  # [B or 1, 1]
        return self.timing_embedding(start + columns[None])

    def _opening(
        self, controls: torch.Tensor | None, file_start: torch.Tensor | bool, batch_size: int
    ) -> torch.Tensor | None:
        """The request [B, controls] (or None: nothing asked) -> [B, H] for the inputs that predict
        a sound's first column: zero for windows that do not begin a sound (``file_start``); None
        for a prior without controls, which refuses a request that asks for something."""
        if self.control_embedding is None:
            if controls is not None and bool(torch.isfinite(controls).any()):
                raise ValueError("this prior was trained without controls")
            return None
        if controls is None:
            controls = absent(batch_size, self.controls)
        condition = self.control_embedding(controls.to(self.device).expand(batch_size, -1))
        begins = torch.as_tensor(file_start, device=condition.device).expand(batch_size)
        return condition * begins[:, None].to(condition.dtype)

    @property
    @abc.abstractmethod
    def device(self) -> torch.device: ...

    @abc.abstractmethod
    def forward(
        self,
        tokens: torch.Tensor,
        *,
        offset: int = 0,
        file_start: torch.Tensor | bool = False,
        controls: torch.Tensor | None = None,
        elapsed: torch.Tensor | int = 0,
    ) -> PriorOutput:
        """Teacher-forced logits for tokens [B, T] (clip tokens offset..offset+T-1)."""

    @abc.abstractmethod
    def new_cache(self, batch_size: int, *, device=None, dtype=None):
        """An empty cache for ``batch_size`` sequences of one window."""

    @abc.abstractmethod
    def prime(
        self,
        cache,
        tokens: torch.Tensor,
        *,
        offset: int,
        file_start: bool = False,
        controls: torch.Tensor | None = None,
        elapsed: int = 0,
    ) -> torch.Tensor:
        """Start a window at clip token ``offset`` from known tokens [B, T]; logits [B, K] for the
        next. The cache keeps the request and the clock for the window's ``forward_step`` calls."""

    @abc.abstractmethod
    def forward_step(self, cache, token: torch.Tensor) -> torch.Tensor:
        """Feed the last sampled token [B]; logits [B, K] for the next."""


class CodePrior(TokenPrior):
    """Autoregressive prior p(codes) over RVQ-VAE code grids in docs/DESIGN.md token order.

    A GPT-2-style decoder (Radford et al., 2019, "Language Models are Unsupervised Multitask
    Learners": pre-norm blocks, learned positions) used as a prior over discrete VQ codes as in
    VQ-VAE-2 (Razavi et al., 2019, arXiv:1906.00446) and Jukebox (Dhariwal et al., 2020,
    arXiv:2005.00341).

    Input embedding at window position p = code embedding of the held token (per-level
    vocabularies: one table of levels*K rows plus BOS and START, because index k means different things in
    different RVQ levels) + level, freq-row and position embeddings of the token *being predicted*
    (the held token's level is already in its vocabulary; the target's level/row tells the slot
    what to emit). Output: one K-way head per level, applied to the positions predicting that level.
    Separate heads rather than one shared head because code k of level 0 and code k of level 3 are
    unrelated vectors; a shared head would have to tie their output embeddings. They cost only
    levels*K*hidden parameters and the same FLOPs (each position runs exactly one head).
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
        context_columns: int,
        dropout: float,
        controls: int = 0,
        timing: bool = False,
    ) -> None:
        super().__init__(
            levels=levels,
            rows=rows,
            codebook_size=codebook_size,
            context_columns=context_columns,
            controls=controls,
            timing=timing,
        )
        self.num_layers = layers
        self.num_heads = heads
        self.head_dim = hidden // heads
        self.bos_id = levels * codebook_size  # window starts inside a recording
        self.start_id = levels * codebook_size + 1  # window starts where a recording starts

        self.code_embedding = nn.Embedding(levels * codebook_size + 2, hidden)
        self.level_embedding = nn.Embedding(levels, hidden)
        self.row_embedding = nn.Embedding(rows, hidden)
        self.position_embedding = nn.Embedding(self.context_tokens, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            PriorBlock(hidden=hidden, heads=heads, dropout=dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.level_heads = nn.ModuleList(nn.Linear(hidden, codebook_size) for _ in range(levels))
        if controls:
            self.control_embedding = ControlEmbedding(count=controls, hidden=hidden)
        self._init_weights()
        self._build_timing(hidden)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = f"{prefix}code_embedding.weight"
        table = state_dict.get(key)
        if table is not None and table.shape[0] == self.start_id:
            # Saved before the START token existed: that prior began every window with BOS, so
            # START reads as BOS and the model generates exactly what it always did.
            state_dict[key] = torch.cat([table, table[self.bos_id :]])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _init_weights(self) -> None:
        init_gpt2_weights(self, self.blocks)

    @property
    def device(self) -> torch.device:
        return self.code_embedding.weight.device

    # ---------------------------------------------------------------- embedding / heads

    def _held_ids(self, held: torch.Tensor, *, clip_offset: int) -> torch.Tensor:
        """held codes [B, T] of clip tokens clip_offset.. -> ids in the per-level vocabulary table."""
        levels = self.layout.level_ids(held.shape[1], offset=clip_offset, device=held.device)  # [T]
        return levels * self.codebook_size + held

    def _embed(self, ids: torch.Tensor, *, start: int, target_offset: int) -> torch.Tensor:
        """ids [B, T] at window positions start.. predicting clip tokens target_offset.. -> [B, T, H]."""
        length, device = ids.shape[1], ids.device
        target_levels = self.layout.level_ids(length, offset=target_offset, device=device)
        target_rows = self.layout.row_ids(length, offset=target_offset, device=device)
        positions = torch.arange(start, start + length, device=device)
        return (
            self.code_embedding(ids)
            + self.level_embedding(target_levels)
            + self.row_embedding(target_rows)
            + self.position_embedding(positions)
        )

    def _with_bos(self, held_ids: torch.Tensor, file_start: torch.Tensor | bool) -> torch.Tensor:
        """Prepend each window's start token: START where ``file_start`` (bool [B] or one bool), else BOS."""
        flags = torch.as_tensor(file_start, device=held_ids.device).expand(held_ids.shape[0])
        first = torch.where(flags, self.start_id, self.bos_id).to(held_ids.dtype)[:, None]
        return torch.cat([first, held_ids], dim=1)  # [B, 1 + T]

    def _at_first_column(self, opening: torch.Tensor, length: int) -> torch.Tensor:
        """opening [B, H] at the window positions 0..length-1 that predict the first column: [B, T, H]."""
        first = torch.arange(length, device=opening.device) < self.layout.tokens_per_column
        return opening[:, None] * first[None, :, None].to(opening.dtype)

    def _project(self, h: torch.Tensor, *, target_offset: int) -> torch.Tensor:
        """h [B, T, H] -> logits [B, T, K], each position through the head of the level it predicts."""
        levels = self.layout.levels
        logits = h.new_empty(*h.shape[:2], self.codebook_size)
        for level, head in enumerate(self.level_heads):
            first = (level - target_offset) % levels  # positions predicting `level` form a stride-Q slice
            logits[:, first::levels] = head(h[:, first::levels])
        return logits

    def _run(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache=cache, layer=layer)
        return x

    # ---------------------------------------------------------------- public API

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        offset: int = 0,
        file_start: torch.Tensor | bool = False,
        controls: torch.Tensor | None = None,
        elapsed: torch.Tensor | int = 0,
    ) -> PriorOutput:
        """Teacher-forced logits for tokens [B, T] (clip tokens offset..offset+T-1), T <= context_tokens.

        Training passes windows of whole columns (offset a multiple of levels*rows); any offset works.
        ``file_start`` (bool [B] or one bool): which windows begin a recording (see the module docstring).
        ``elapsed``: see :class:`TokenPrior`.
        """
        length = tokens.shape[1]
        if not 1 <= length <= self.context_tokens:
            raise ValueError(f"window of {length} tokens; must be 1..{self.context_tokens} (context_tokens)")
        ids = self._with_bos(self._held_ids(tokens[:, :-1], clip_offset=offset), file_start)  # [B, T]
        x = self._embed(ids, start=0, target_offset=offset)
        opening = self._opening(controls, file_start, tokens.shape[0]) if offset == 0 else None
        if opening is not None:
            x = x + self._at_first_column(opening, x.shape[1])
        clock = self._window_clock(elapsed, offset, length)
        if clock is not None:
            x = x + clock
        h = self._run(x, cache=None)
        logits = self._project(self.norm(h), target_offset=offset)  # [B, T, K]
        level_ids = self.layout.level_ids(length, offset=offset, device=tokens.device)
        return PriorOutput(logits=logits, level_ids=level_ids, levels=self.layout.levels)

    def _window_clock(self, elapsed: torch.Tensor | int, offset: int, length: int) -> torch.Tensor | None:
        """Timing inputs [B or 1, length, H] of window positions 0.. predicting clip tokens offset..."""
        targets = torch.arange(offset, offset + length, device=self.device)
        return self._clock(elapsed, targets // self.layout.tokens_per_column)

    def new_cache(
        self, batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        """An empty cache holding a full context window for ``batch_size`` sequences."""
        param = self.code_embedding.weight
        shape = (self.num_layers, batch_size, self.num_heads, self.context_tokens, self.head_dim)
        kwargs = {"device": device or param.device, "dtype": dtype or param.dtype}
        return KVCache(keys=torch.zeros(shape, **kwargs), values=torch.zeros(shape, **kwargs))

    def prime(
        self,
        cache: KVCache,
        tokens: torch.Tensor,
        *,
        offset: int,
        file_start: bool = False,
        controls: torch.Tensor | None = None,
        elapsed: int = 0,
    ) -> torch.Tensor:
        """Start a window at clip token ``offset`` from known tokens [B, T] (T may be 0), in one pass.

        Fills T+1 cache slots (start token + tokens) and returns logits [B, K] for clip token
        offset+T. ``file_start``: the window begins a sound (START), else it continues one (BOS).
        """
        length = tokens.shape[1]
        if length + 1 > cache.capacity:
            raise ValueError(
                f"cannot prime {length} tokens: a window holds BOS + {cache.capacity - 1} tokens"
            )
        if tokens.shape[0] != cache.batch_size:
            raise ValueError(f"tokens batch {tokens.shape[0]} != cache batch {cache.batch_size}")
        cache.reset(offset=offset)
        cache.condition = self._opening(controls, file_start, tokens.shape[0]) if offset == 0 else None
        ids = self._with_bos(self._held_ids(tokens, clip_offset=offset), file_start)  # [B, T + 1]
        x = self._embed(ids, start=0, target_offset=offset)
        if cache.condition is not None:
            x = x + self._at_first_column(cache.condition, x.shape[1])
        cache.timing = self._window_clock(elapsed, offset, cache.capacity)  # the whole window's, once
        if cache.timing is not None:
            x = x + cache.timing[:, : x.shape[1]]
        h = self._run(x, cache=cache)
        cache.length = length + 1
        level = (offset + length) % self.layout.levels
        return self.level_heads[level](self.norm(h[:, -1]))  # [B, K]

    def forward_step(self, cache: KVCache, token: torch.Tensor) -> torch.Tensor:
        """Feed the last sampled token [B] (clip token cache.offset+cache.length-1); logits [B, K] for the next."""
        position = cache.length
        if position == 0:
            raise ValueError("the cache is empty: call prime() first (it places the BOS token)")
        if position >= cache.capacity:
            raise ValueError(f"the cache is full ({cache.capacity} positions): slide the window with prime()")
        held_index = cache.offset + position - 1
        target = cache.offset + position
        levels, rows = self.layout.levels, self.layout.rows
        ids = (held_index % levels) * self.codebook_size + token  # [B]
        # Plain integer indexing of the tables: cheaper per step than building id tensors.
        extra = (
            self.level_embedding.weight[target % levels]
            + self.row_embedding.weight[(target // levels) % rows]
            + self.position_embedding.weight[position]
        )  # [H]
        x = self.code_embedding(ids) + extra  # [B, H]
        if cache.condition is not None and position < self.layout.tokens_per_column:
            x = x + cache.condition
        if cache.timing is not None:
            x = x + cache.timing[:, position]
        h = self._run(x[:, None], cache=cache)
        cache.length = position + 1
        return self.level_heads[target % levels](self.norm(h[:, 0]))  # [B, K]
