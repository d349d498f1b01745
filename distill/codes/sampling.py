"""Sample code grids from a prior (:class:`~distill.nn.prior.TokenPrior`) with a cache and a sliding window.

Decoding runs one token at a time through the preallocated cache. When the window is full it
slides: the cache is re-primed, in one parallel pass, from the last ``context_columns // 2`` whole
columns. Why half: re-priming costs one forward over the kept tokens, so keeping nearly the whole
window would mean a full-window pass every column (as slow as no cache), while keeping little would
leave the next tokens with almost no context. Half a window bounds the re-prime cost to about one
parallel pass per half window of generated tokens and guarantees every token at least half a
window of context. Whole columns, because training crops start at column boundaries, so window
position 0 always predicts level 0 of row 0 as in training.

``file_start`` primes the first window with the prior's START token: a new sound from its start
(windows after a slide continue a sound, so they start with BOS, as in training). ``until`` ends
sampling early: it is asked after every whole column whether the grid so far is finished (a
one-shot that has decayed), so a short sound costs only its own columns. ``fixed`` holds tokens
of the new columns that are not sampled but kept (-1 where sampled): level variation keeps the
coarse levels and resamples the fine ones, each drawn token conditioned on all kept ones before it.
``elapsed``: how many columns of the sound lie before the clip (0: the clip, prompt included,
starts with the sound; an edit's left context may start later): a timed prior's clock reads
column ``elapsed + c`` for the clip's column ``c``, across slides. ``controls`` is the request a
conditioned prior draws for (``distill.nn.controls``: relative values, NaN = not asked), the same
for every window of the sound. ``guidance`` > 1 follows it more strongly by classifier-free
guidance (Ho & Salimans, 2022, arXiv:2207.12598): each step's logits
are the unconditioned ones moved ``guidance`` times the way the request moves them, which the
prior can give because it learned to draw with nothing asked; it runs every step twice (batched).

One home for sampling from the prior: generation (``distill.generation``) and code-grid edits
(``distill.codes.edits``) both use it. ``continuation_nll`` scores what follows a region, which
infill uses to pick, among candidates, the one that joins its right-hand side best.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from distill.nn.prior import TokenPrior


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row of logits [..., K], set the rest to -inf; k=0 keeps all."""
    if k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {k}")
    if k == 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # [..., 1]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter (Holtzman et al., 2020): keep the smallest set of most likely tokens whose
    probability sums to >= p, set the rest to -inf; p=1 keeps all. The top token is always kept."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the strictly more likely tokens
    drop_sorted = mass_before >= p  # already covered p without this token; never true for the top one
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def _check_params(*, n_columns: int, temperature: float, top_k: int, top_p: float, batch_size: int) -> None:
    if isinstance(n_columns, bool) or not isinstance(n_columns, int) or n_columns < 1:
        raise ValueError(f"n_columns must be an integer >= 1, got {n_columns!r}")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 = off), got {top_k!r}")
    if not (isinstance(top_p, int | float) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _check_prompt(prior: TokenPrior, prompt: torch.Tensor, batch_size: int) -> None:
    levels, rows = prior.layout.levels, prior.layout.rows
    if prompt.dim() != 4 or prompt.shape[0] != batch_size or prompt.shape[1:3] != (levels, rows):
        raise ValueError(
            f"prompt must have shape [{batch_size}, {levels}, {rows}, C], got {tuple(prompt.shape)}"
        )
    if prompt.is_floating_point() or prompt.is_complex():
        raise ValueError(f"prompt must hold integer codes, got dtype {prompt.dtype}")
    if prompt.numel() and (prompt.min() < 0 or prompt.max() >= prior.codebook_size):
        raise ValueError(
            f"prompt codes must be in [0, {prior.codebook_size}), got range "
            f"[{int(prompt.min())}, {int(prompt.max())}]"
        )


def draw(
    logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float, generator: torch.Generator
) -> torch.Tensor:
    """logits [B, K] -> sampled codes [B]: temperature, then top-k, then the top-p nucleus.

    The same distribution as ``softmax(top_p_filter(top_k_filter(logits / T, k), p))``, in fewer
    passes (this runs once per generated token): one softmax, and the nucleus is drawn from in
    sorted order, so no scatter back to vocabulary order is needed.
    """
    probs = top_k_filter(logits.float() / temperature, top_k).softmax(dim=-1)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p  # never true for the top token
    choice = torch.multinomial(sorted_probs.masked_fill(outside, 0.0), 1, generator=generator)
    return order.gather(-1, choice)[:, 0]


def sample_batch(
    prior: TokenPrior,
    *,
    batch_size: int,
    n_columns: int,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int,
    prompt: torch.Tensor | None = None,
    file_start: bool = False,
    until: Callable[[torch.Tensor], bool] | None = None,
    fixed: torch.Tensor | None = None,
    controls: torch.Tensor | None = None,
    guidance: float = 1.0,
    elapsed: int = 0,
) -> torch.Tensor:
    """Sample ``batch_size`` grids; returns codes [B, Q, R, prompt_columns + n_columns].

    ``n_columns`` new columns are generated after the optional prompt [B, Q, R, C_prompt], which is
    returned unchanged at the start. Same prior, seed and parameters -> identical codes: all
    randomness comes from a local ``torch.Generator`` (the global RNG is never touched).
    ``file_start`` / ``until`` / ``elapsed``: see the module docstring; with ``until`` the grid
    returned ends at the first whole column for which ``until(codes [B, Q, R, C])`` was true, or at n_columns.
    ``fixed`` [B, Q, R, n_columns]: codes kept as they are in the new columns, -1 where sampled
    (a kept token still draws from the generator, so the seed's stream does not depend on it).
    ``controls``: [controls] or [B, controls] for a conditioned prior, or None (nothing asked);
    ``guidance``: how strongly to follow them (1 = as the prior learned; see the module docstring).
    """
    _check_params(
        n_columns=n_columns, temperature=temperature, top_k=top_k, top_p=top_p, batch_size=batch_size
    )
    if not (isinstance(guidance, int | float) and math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
    if isinstance(elapsed, bool) or not isinstance(elapsed, int) or elapsed < 0:
        raise ValueError(f"elapsed must be an integer >= 0 (columns), got {elapsed!r}")
    device = prior.device
    per_column = prior.layout.tokens_per_column
    if prompt is None:
        prompt = torch.zeros(batch_size, prior.layout.levels, prior.layout.rows, 0, dtype=torch.long)
    _check_prompt(prior, prompt, batch_size)
    prompt_tokens = prior.layout.flatten(prompt.to(device=device, dtype=torch.long))  # [B, P]
    known = prompt_tokens.shape[1]
    total = known + n_columns * per_column
    tokens = torch.empty(batch_size, total, dtype=torch.long, device=device)
    tokens[:, :known] = prompt_tokens
    keep = None
    if fixed is not None:
        if fixed.shape != (batch_size, prior.layout.levels, prior.layout.rows, n_columns):
            raise ValueError(
                f"fixed must have shape {(batch_size, prior.layout.levels, prior.layout.rows, n_columns)},"
                f" got {tuple(fixed.shape)}"
            )
        keep = torch.cat([prompt_tokens, prior.layout.flatten(fixed.to(device=device, dtype=torch.long))], 1)

    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    keep_tokens = (prior.context_columns // 2) * per_column
    was_training = prior.training
    prior.eval()  # dropout off while sampling; the caller's mode is restored below
    request = _Request.of(controls, guidance, batch_size)
    try:
        with torch.inference_mode():
            cache = prior.new_cache(request.rows(batch_size), device=device)
            slide = dict(keep_tokens=keep_tokens, file_start=file_start, request=request, elapsed=elapsed)
            logits = _slide(prior, cache, tokens, known=known, **slide)
            while True:
                tokens[:, known] = draw(
                    logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
                )
                if keep is not None:
                    tokens[:, known] = torch.where(keep[:, known] >= 0, keep[:, known], tokens[:, known])
                known += 1
                if known == total:
                    break
                if until is not None and known % per_column == 0:
                    if until(prior.layout.unflatten(tokens[:, :known])):
                        total = known
                        break
                if cache.length == cache.capacity:
                    logits = _slide(prior, cache, tokens, known=known, **slide)
                else:
                    logits = request.logits(prior.forward_step(cache, request.both(tokens[:, known - 1])))
    finally:
        prior.train(was_training)
    return prior.layout.unflatten(tokens[:, :total].clone())


@dataclass(frozen=True)
class _Request:
    """What each cache row is asked ([rows, controls], or None) and how the rows' logits combine:
    with guidance, rows B.. repeat rows ..B with nothing asked."""

    controls: torch.Tensor | None
    guidance: float

    @classmethod
    def of(cls, controls: torch.Tensor | None, guidance: float, batch_size: int) -> _Request:
        if controls is None:
            return cls(controls=None, guidance=1.0)
        asked = controls.reshape(-1, controls.shape[-1]).expand(batch_size, -1)
        if guidance == 1.0:
            return cls(controls=asked, guidance=1.0)
        return cls(
            controls=torch.cat([asked, torch.full_like(asked, float("nan"))]), guidance=float(guidance)
        )

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0

    def rows(self, batch_size: int) -> int:
        return 2 * batch_size if self.guided else batch_size

    def both(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat([tokens, tokens]) if self.guided else tokens

    def logits(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.guided:
            return logits
        asked, unasked = logits.float().chunk(2)
        return unasked + self.guidance * (asked - unasked)


def _slide(
    prior: TokenPrior,
    cache,
    tokens: torch.Tensor,
    *,
    known: int,
    keep_tokens: int,
    file_start: bool,
    request: _Request,
    elapsed: int,
) -> torch.Tensor:
    """(Re)start the window so it ends at clip token ``known``; returns logits [B, K] for that token.

    ``known`` is a whole number of columns here (prompt end, or a full window of whole columns).
    Everything known is kept while it fits (the start of a clip or a short prompt); otherwise the
    last ``keep_tokens`` (half a window of whole columns). Only a window from the clip's first
    token can begin a sound (``file_start``).
    """
    start = 0 if known < prior.context_tokens else known - keep_tokens
    logits = prior.prime(
        cache,
        request.both(tokens[:, start:known]),
        offset=start,
        file_start=file_start and start == 0,
        controls=request.controls,
        elapsed=elapsed,
    )
    return request.logits(logits)


def sample(
    prior: TokenPrior,
    *,
    n_columns: int,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int,
    prompt: torch.Tensor | None = None,
    file_start: bool = False,
    until: Callable[[torch.Tensor], bool] | None = None,
    fixed: torch.Tensor | None = None,
    controls: torch.Tensor | None = None,
    guidance: float = 1.0,
    elapsed: int = 0,
) -> torch.Tensor:
    """Sample one grid: codes [Q, R, prompt_columns + n_columns]; ``prompt`` is [Q, R, C_prompt] or None.

    temperature > 0 divides the logits; top_k (0 = off) keeps the k likeliest codes; top_p in (0, 1]
    keeps the nucleus. Any duration works: the window slides (see module docstring).
    ``until`` gets the grid so far [Q, R, C] (see :func:`sample_batch`).
    """
    batched_prompt = None if prompt is None else prompt.unsqueeze(0)
    if prompt is not None and prompt.dim() != 3:
        raise ValueError(f"prompt must have shape [Q, R, C], got {tuple(prompt.shape)}")
    codes = sample_batch(
        prior,
        batch_size=1,
        n_columns=n_columns,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        prompt=batched_prompt,
        file_start=file_start,
        until=None if until is None else (lambda grids: until(grids[0])),
        fixed=None if fixed is None else fixed.unsqueeze(0),
        controls=controls,
        guidance=guidance,
        elapsed=elapsed,
    )
    return codes[0]


def continuation_nll(
    prior: TokenPrior, codes: torch.Tensor, *, start_column: int, file_start: bool, elapsed: int = 0
) -> torch.Tensor:
    """Negative log-likelihood (nats, summed) of columns ``start_column..`` of codes [B, Q, R, C]
    given the columns before them, per grid [B]; one teacher-forced pass per grid.

    The grids must fit one context window (C <= context_columns); ``file_start``: column 0 of
    them begins a sound; ``elapsed``: the sound's columns before column 0 of them. Infill scores
    each candidate by the NLL of the right-hand columns after it.
    """
    columns = codes.shape[-1]
    if not 0 < start_column < columns <= prior.context_columns:
        raise ValueError(
            f"need 0 < start_column ({start_column}) < columns ({columns}) <= {prior.context_columns}"
        )
    device = prior.device
    tokens = prior.layout.flatten(codes.to(device=device, dtype=torch.long))  # [B, T]
    was_training = prior.training
    prior.eval()
    try:
        with torch.inference_mode():
            logits = prior(tokens, offset=0, file_start=file_start, elapsed=elapsed).logits  # [B, T, K]
    finally:
        prior.train(was_training)
    first = start_column * prior.layout.tokens_per_column
    log_probs = logits[:, first:].float().log_softmax(dim=-1)
    return -log_probs.gather(-1, tokens[:, first:, None])[..., 0].sum(dim=1).cpu()
