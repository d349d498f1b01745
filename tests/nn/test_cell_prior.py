"""The cell prior: a temporal transformer once per cell, a depth transformer over its levels."""

import pytest
import torch

from distill.codes.sampling import draw, sample
from distill.nn.cell_prior import CellPrior
from distill.nn.code_layout import CodeLayout
from distill.nn.prior import CodePrior

LEVELS, ROWS, K = 4, 2, 16
PER_COLUMN = LEVELS * ROWS


def make_prior(context_columns: int = 4, dropout: float = 0.0) -> CellPrior:
    torch.manual_seed(0)
    prior = CellPrior(
        levels=LEVELS,
        rows=ROWS,
        codebook_size=K,
        hidden=32,
        layers=2,
        heads=4,
        depth_hidden=16,
        depth_layers=2,
        depth_heads=2,
        context_columns=context_columns,
        dropout=dropout,
    )
    return prior.eval()


def make_flat_prior(context_columns: int = 4) -> CodePrior:
    torch.manual_seed(0)
    shape = dict(levels=LEVELS, rows=ROWS, codebook_size=K, hidden=32, layers=2, heads=4)
    return CodePrior(**shape, context_columns=context_columns, dropout=0.0).eval()


def test_forward_shapes_levels_and_partial_columns():
    prior = make_prior()
    tokens = torch.randint(0, K, (3, 3 * PER_COLUMN))
    out = prior(tokens)
    assert out.logits.shape == (3, 3 * PER_COLUMN, K) and torch.isfinite(out.logits).all()
    assert torch.equal(out.level_ids, CodeLayout(levels=LEVELS, rows=ROWS).level_ids(3 * PER_COLUMN))
    # A window ending inside a column: the same logits as the whole window's first tokens.
    partial = prior(tokens[:, : PER_COLUMN + 3]).logits
    assert torch.allclose(partial, out.logits[:, : PER_COLUMN + 3], atol=1e-5)
    with pytest.raises(ValueError, match="whole column"):
        prior(tokens, offset=3)
    with pytest.raises(ValueError, match="1..32"):
        prior(torch.randint(0, K, (1, 5 * PER_COLUMN)))


def test_future_tokens_never_change_earlier_logits():
    prior = make_prior()
    tokens = torch.randint(0, K, (2, 3 * PER_COLUMN))
    base = prior(tokens).logits
    # Inside a column (depth causality) and across columns (temporal causality).
    for j in (0, 3, PER_COLUMN - 1, PER_COLUMN + 5, tokens.shape[1] - 2):
        changed = tokens.clone()
        changed[:, j] = (changed[:, j] + 1) % K
        logits = prior(changed).logits
        assert torch.allclose(logits[:, : j + 1], base[:, : j + 1], atol=1e-5), j
        assert not torch.allclose(logits[:, j + 1 :], base[:, j + 1 :], atol=1e-4), j


@pytest.mark.parametrize("known", [0, 3, PER_COLUMN, PER_COLUMN + 5, 3 * PER_COLUMN])
@pytest.mark.parametrize("file_start", [True, False])
def test_cached_steps_equal_the_teacher_forced_window(known, file_start):
    prior = make_prior()
    tokens = torch.randint(0, K, (2, 4 * PER_COLUMN))
    full = prior(tokens, file_start=file_start).logits
    cache = prior.new_cache(2)
    with torch.no_grad():
        logits = prior.prime(cache, tokens[:, :known], offset=0, file_start=file_start)
        assert torch.allclose(logits, full[:, known], atol=1e-5)
        for t in range(known, tokens.shape[1] - 1):
            logits = prior.forward_step(cache, tokens[:, t])
            assert torch.allclose(logits, full[:, t + 1], atol=1e-5), t
    assert cache.length == cache.capacity
    with pytest.raises(ValueError, match="full"):
        prior.forward_step(cache, tokens[:, -1])


@pytest.mark.parametrize(
    "make",
    [make_prior, make_flat_prior],
    ids=["cell", "flat"],
)
def test_teacher_forced_likelihood_equals_the_sum_of_the_sampling_steps_log_probs(make):
    """Cache correctness as a likelihood: what sampling drew, scored in one teacher-forced pass,
    has exactly the log-probability that the sampling steps gave it."""
    prior = make()
    generator = torch.Generator().manual_seed(0)
    tokens = torch.zeros(3, prior.context_tokens, dtype=torch.long)
    stepped = torch.zeros(3)
    with torch.no_grad():
        cache = prior.new_cache(3)
        logits = prior.prime(cache, tokens[:, :0], offset=0, file_start=True)
        for t in range(prior.context_tokens):
            tokens[:, t] = draw(logits, temperature=1.0, top_k=0, top_p=1.0, generator=generator)
            stepped += logits.log_softmax(-1).gather(-1, tokens[:, t, None])[:, 0]
            if t + 1 < prior.context_tokens:
                logits = prior.forward_step(cache, tokens[:, t])
        forced = prior(tokens, file_start=True).logits.log_softmax(-1)
    teacher = forced.gather(-1, tokens[..., None])[..., 0].sum(1)
    assert torch.allclose(stepped, teacher, rtol=1e-5, atol=1e-3)


def test_a_window_that_begins_a_file_is_conditioned_on_the_start_token():
    prior = make_prior()
    with torch.no_grad():
        prior.window_start_embedding.weight[1] += 1.0  # as if training had taught START something
    tokens = torch.randint(0, K, (2, 2 * PER_COLUMN))
    continuing = prior(tokens).logits
    starting = prior(tokens, file_start=True).logits
    mixed = prior(tokens, file_start=torch.tensor([True, False])).logits
    assert not torch.allclose(continuing[:, 0], starting[:, 0])  # the very first token already
    assert torch.allclose(mixed[0], starting[0]) and torch.allclose(mixed[1], continuing[1])


def test_each_level_of_a_cell_reads_a_context_of_its_own():
    prior = make_prior()
    tokens = torch.randint(0, K, (1, 2 * PER_COLUMN))
    base = prior(tokens).logits
    with torch.no_grad():  # move only level 2's share of the projection (not uniformly: LayerNorm drops that)
        rows = slice(2 * prior.depth_hidden, 3 * prior.depth_hidden)
        prior.to_depth.bias[rows] += torch.randn(prior.depth_hidden)
    changed = (prior(tokens).logits - base).abs().amax(-1)[0] > 1e-4
    # Level 2 of every cell changes (and level 3 reads it through the depth transformer); levels
    # 0 and 1 do not.
    for cell in range(2 * ROWS):
        first = cell * LEVELS
        assert not changed[first : first + 2].any() and changed[first + 2]


def test_a_cell_prior_sees_each_row_of_a_column_on_its_own():
    prior = make_prior()
    tokens = torch.randint(0, K, (1, 2 * PER_COLUMN))
    base = prior(tokens).logits
    changed_row = tokens.clone()
    changed_row[0, LEVELS] = (changed_row[0, LEVELS] + 1) % K  # row 1's coarse code in column 0
    logits = prior(changed_row).logits
    # Row 0 of the column does not see row 1; row 1's finer levels (depth) and everything after do.
    assert torch.allclose(logits[:, : LEVELS + 1], base[:, : LEVELS + 1], atol=1e-5)
    assert not torch.allclose(logits[:, LEVELS + 1 :], base[:, LEVELS + 1 :], atol=1e-4)
    assert prior.new_cache(1).temporal.capacity == prior.context_columns * ROWS  # a position per cell


def test_backward_reaches_every_parameter():
    prior = make_prior(dropout=0.1).train()
    tokens = torch.randint(0, K, (2, 4 * PER_COLUMN))
    prior(tokens, file_start=torch.tensor([True, False])).nll(tokens).backward()
    for name, param in prior.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_the_temporal_transformer_runs_once_per_cell_when_sampling():
    prior = make_prior(context_columns=8)
    temporal_positions, depth_positions = [], []
    prior.temporal_blocks[0].register_forward_hook(lambda m, a, out: temporal_positions.append(out.shape[1]))
    prior.depth_blocks[0].register_forward_hook(lambda m, a, out: depth_positions.append(out.shape[1]))
    sample(prior, n_columns=6, temperature=1.0, top_k=0, top_p=1.0, seed=0, file_start=True)
    # The start vector, then one position per finished cell but the last (no slide in 6 of 8).
    assert sum(temporal_positions) == 6 * ROWS
    assert sum(depth_positions) == 6 * PER_COLUMN  # one depth position per token


def test_cache_and_offset_errors():
    prior = make_prior()
    cache = prior.new_cache(1)
    with pytest.raises(ValueError, match="empty"):
        prior.forward_step(cache, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="whole column"):
        prior.prime(cache, torch.zeros(1, 2, dtype=torch.long), offset=PER_COLUMN + 1)
    with pytest.raises(ValueError, match="cannot prime"):
        prior.prime(cache, torch.zeros(1, 4 * PER_COLUMN, dtype=torch.long), offset=0)
    with pytest.raises(ValueError, match="batch"):
        prior.prime(cache, torch.zeros(2, 3, dtype=torch.long), offset=0)
    with pytest.raises(ValueError, match="context_columns"):
        make_prior(context_columns=1)
