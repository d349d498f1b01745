import math

import pytest
import torch

from distill.nn.code_layout import CodeLayout
from distill.nn.prior import CodePrior
from distill.nn.transformer import CausalSelfAttention, KVCache

LEVELS, ROWS, K = 4, 2, 16
PER_COLUMN = LEVELS * ROWS


def make_prior(context_columns: int = 4, dropout: float = 0.0) -> CodePrior:
    torch.manual_seed(0)
    prior = CodePrior(
        levels=LEVELS,
        rows=ROWS,
        codebook_size=K,
        hidden=32,
        layers=2,
        heads=4,
        context_columns=context_columns,
        dropout=dropout,
    )
    return prior.eval()


def test_forward_shapes_and_levels():
    prior = make_prior()
    tokens = torch.randint(0, K, (3, 3 * PER_COLUMN))
    out = prior(tokens)
    assert out.logits.shape == (3, 3 * PER_COLUMN, K)
    assert torch.equal(out.level_ids, CodeLayout(levels=LEVELS, rows=ROWS).level_ids(3 * PER_COLUMN))
    assert torch.isfinite(out.logits).all()


def test_size_presets_param_counts():
    for hidden, layers, low, high in ((128, 2, 0.3e6, 1.0e6), (256, 4, 2.5e6, 5e6), (512, 6, 15e6, 25e6)):
        prior = CodePrior(
            levels=4,
            rows=8,
            codebook_size=256,
            hidden=hidden,
            layers=layers,
            heads=4,
            context_columns=32,
            dropout=0.1,
        )
        assert low < sum(p.numel() for p in prior.parameters()) < high


def test_causal_mask_future_tokens_never_change_earlier_logits():
    prior = make_prior()
    tokens = torch.randint(0, K, (2, 3 * PER_COLUMN))
    base = prior(tokens).logits
    for j in (0, 5, PER_COLUMN + 3, tokens.shape[1] - 1):
        changed = tokens.clone()
        changed[:, j] = (changed[:, j] + 1) % K
        logits = prior(changed).logits
        # logits[:, t] predicts token t from tokens < t: positions <= j must not move.
        torch.testing.assert_close(logits[:, : j + 1], base[:, : j + 1], rtol=0, atol=1e-6)
        if j + 1 < tokens.shape[1]:
            assert not torch.allclose(logits[:, j + 1 :], base[:, j + 1 :])


def test_first_token_is_predicted_from_bos_alone():
    prior = make_prior()
    a = prior(torch.randint(0, K, (1, PER_COLUMN))).logits[:, 0]
    b = prior(torch.randint(0, K, (1, PER_COLUMN))).logits[:, 0]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("offset", [0, PER_COLUMN, 3])
def test_kv_cache_matches_full_recompute(offset):
    prior = make_prior(context_columns=4)
    clip = torch.randint(0, K, (2, offset + prior.context_tokens))
    window = clip[:, offset : offset + prior.context_tokens]
    full = prior(window, offset=offset).logits  # [B, T, K]
    cache = prior.new_cache(2)
    primed = 5
    with torch.no_grad():
        step_logits = [prior.prime(cache, window[:, :primed], offset=offset)]
        for t in range(primed, window.shape[1] - 1):
            step_logits.append(prior.forward_step(cache, window[:, t]))
    assert cache.length == cache.capacity
    torch.testing.assert_close(torch.stack(step_logits, dim=1), full[:, primed:], rtol=1e-4, atol=1e-5)


def test_kv_cache_after_window_slide_matches_full_recompute():
    prior = make_prior(context_columns=4)
    clip = torch.randint(0, K, (1, 3 * prior.context_tokens))
    cache = prior.new_cache(1)
    with torch.no_grad():
        prior.prime(cache, clip[:, :0], offset=0)
        for t in range(prior.context_tokens - 1):
            prior.forward_step(cache, clip[:, t])
        assert cache.length == cache.capacity
        # Slide: keep the last half window (2 columns) and continue one more window's worth.
        start = prior.context_tokens - 2 * PER_COLUMN
        got = [prior.prime(cache, clip[:, start : prior.context_tokens], offset=start)]
        for t in range(prior.context_tokens, start + prior.context_tokens - 1):
            got.append(prior.forward_step(cache, clip[:, t]))
    full = prior(clip[:, start : start + prior.context_tokens], offset=start).logits
    torch.testing.assert_close(torch.stack(got, dim=1), full[:, 2 * PER_COLUMN :], rtol=1e-4, atol=1e-5)


def test_cache_is_preallocated_and_written_in_place():
    prior = make_prior()
    cache = prior.new_cache(2)
    assert isinstance(cache, KVCache)
    assert cache.keys.shape == (2, 2, 4, prior.context_tokens, 8)
    pointer = cache.keys.data_ptr()
    with torch.no_grad():
        prior.prime(cache, torch.randint(0, K, (2, 3)), offset=0)
        prior.forward_step(cache, torch.randint(0, K, (2,)))
    assert cache.keys.data_ptr() == pointer and cache.length == 5


def test_attention_chunk_after_cached_prefix_is_causal():
    torch.manual_seed(0)
    attn = CausalSelfAttention(hidden=16, heads=2)
    x = torch.randn(1, 7, 16)
    full = attn(x, cache=None, layer=0)
    cache = KVCache(keys=torch.zeros(1, 1, 2, 8, 8), values=torch.zeros(1, 1, 2, 8, 8))
    first = attn(x[:, :4], cache=cache, layer=0)
    cache.length = 4
    second = attn(x[:, 4:], cache=cache, layer=0)  # 3 queries after a 4-slot prefix: explicit mask path
    torch.testing.assert_close(torch.cat([first, second], dim=1), full, rtol=1e-5, atol=1e-6)


def test_step_errors():
    prior = make_prior(context_columns=2)
    cache = prior.new_cache(1)
    with pytest.raises(ValueError, match="prime"):
        prior.forward_step(cache, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot prime"):
        prior.prime(cache, torch.zeros(1, prior.context_tokens, dtype=torch.long), offset=0)
    with torch.no_grad():
        prior.prime(cache, torch.zeros(1, prior.context_tokens - 1, dtype=torch.long), offset=0)
    with pytest.raises(ValueError, match="full"):
        prior.forward_step(cache, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="context_tokens"):
        prior(torch.zeros(1, prior.context_tokens + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="context_columns"):
        CodePrior(
            levels=4, rows=8, codebook_size=8, hidden=16, layers=1, heads=2, context_columns=1, dropout=0.0
        )


def test_nll_and_per_level_nll():
    prior = make_prior()
    tokens = torch.randint(0, K, (2, 2 * PER_COLUMN + 3))  # partial column: levels 0..2 get one more token
    out = prior(tokens)
    log_probs = out.logits.log_softmax(-1).gather(-1, tokens[..., None])[..., 0]  # [B, T]
    torch.testing.assert_close(out.nll(tokens), -log_probs.mean())
    per_level = out.nll_per_level(tokens)
    for level in range(LEVELS):
        torch.testing.assert_close(per_level[level], -log_probs[:, out.level_ids == level].mean())
    # Freshly initialised: close to the uniform log K nats.
    assert abs(out.nll(tokens).item() - math.log(K)) < 0.2


def test_backward_reaches_every_parameter():
    prior = make_prior(dropout=0.1).train()
    tokens = torch.randint(0, K, (2, 2 * PER_COLUMN))
    prior(tokens).nll(tokens).backward()
    for name, param in prior.named_parameters():
        if name == "position_embedding.weight":
            continue  # only the first 16 of 32 positions are used by this window
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_a_window_that_begins_a_file_is_conditioned_on_the_start_token():
    prior = make_prior()
    tokens = torch.randint(0, K, (2, 2 * PER_COLUMN))
    continuing = prior(tokens).logits
    starting = prior(tokens, file_start=True).logits
    mixed = prior(tokens, file_start=torch.tensor([True, False])).logits
    assert not torch.allclose(continuing, starting)
    assert torch.allclose(mixed[0], starting[0]) and torch.allclose(mixed[1], continuing[1])


def test_priming_with_the_start_token_matches_the_teacher_forced_window():
    prior = make_prior()
    tokens = torch.randint(0, K, (1, 2 * PER_COLUMN))
    full = prior(tokens, file_start=True).logits
    cache = prior.new_cache(1)
    with torch.no_grad():
        first = prior.prime(cache, tokens[:, :0], offset=0, file_start=True)
        step = prior.forward_step(cache, tokens[:, 0])
    assert torch.allclose(first, full[:, 0], atol=1e-5) and torch.allclose(step, full[:, 1], atol=1e-5)


def test_a_prior_saved_before_the_start_token_loads_and_starts_sounds_with_bos():
    prior = make_prior()
    old = {key: value.clone() for key, value in prior.state_dict().items()}
    old["code_embedding.weight"] = old["code_embedding.weight"][: prior.start_id]  # no START row
    loaded = make_prior()
    loaded.load_state_dict(old)
    tokens = torch.randint(0, K, (1, PER_COLUMN))
    assert torch.equal(loaded(tokens, file_start=True).logits, loaded(tokens).logits)
    assert torch.equal(loaded(tokens).logits, prior(tokens).logits)
