import math

import pytest
import torch

from distill.codes.sampling import draw, sample, sample_batch, top_k_filter, top_p_filter
from distill.nn.cell_prior import CellPrior
from distill.nn.prior import CodePrior, TokenPrior

LEVELS, ROWS, K = 2, 2, 8
PER_COLUMN = LEVELS * ROWS
PARAMS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}


@pytest.fixture(scope="module", params=["flat", "cell"])
def prior(request) -> TokenPrior:
    torch.manual_seed(0)
    shape = dict(levels=LEVELS, rows=ROWS, codebook_size=K, hidden=32, layers=2, heads=2, context_columns=4)
    if request.param == "flat":
        model = CodePrior(**shape, dropout=0.1)
    else:
        model = CellPrior(**shape, depth_hidden=16, depth_layers=1, depth_heads=2, dropout=0.1)
    # Sharpen the untrained heads a little so samples depend clearly on the context.
    with torch.no_grad():
        for head in model.level_heads:
            head.weight.mul_(20)
    return model


def start_embedding(prior: TokenPrior) -> torch.Tensor:
    """The START token's embedding row of either prior."""
    if isinstance(prior, CellPrior):
        return prior.window_start_embedding.weight[1]
    return prior.code_embedding.weight[prior.start_id]


def test_top_k_filter_known_distribution():
    logits = torch.tensor([[1.0, 4.0, 2.0, 3.0]])
    inf = float("-inf")
    assert top_k_filter(logits, 2).tolist() == [[inf, 4.0, inf, 3.0]]
    assert top_k_filter(logits, 1).tolist() == [[inf, 4.0, inf, inf]]
    assert torch.equal(top_k_filter(logits, 0), logits)
    assert torch.equal(top_k_filter(logits, 10), logits)


def test_top_p_filter_known_distribution():
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    logits = probs.log()
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.7) == [False, True, False, True]  # 0.5 + 0.3 covers 0.7
    assert kept(0.9) == [True, True, False, True]  # needs 0.15 too
    assert kept(0.4) == [False, True, False, False]  # the top token alone
    assert kept(0.01) == [False, True, False, False]  # the top token is always kept
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    # Kept logits keep their values, so renormalised probabilities stay proportional.
    torch.testing.assert_close(
        top_p_filter(logits, 0.7).softmax(-1)[0, [1, 3]], torch.tensor([0.5, 0.3]) / 0.8
    )


def test_same_seed_same_codes_different_seed_differs(prior):
    a = sample(prior, n_columns=3, seed=7, **PARAMS)
    b = sample(prior, n_columns=3, seed=7, **PARAMS)
    c = sample(prior, n_columns=3, seed=8, **PARAMS)
    assert a.shape == (LEVELS, ROWS, 3) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < K


def test_global_rng_untouched_and_mode_restored(prior):
    prior.train()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sample(prior, n_columns=2, seed=1, **PARAMS)
    assert torch.equal(torch.rand(3), expected)
    assert prior.training
    prior.eval()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature.*0.0"),
        ({"temperature": -1.0}, "temperature.*-1.0"),
        ({"temperature": math.nan}, "temperature.*nan"),
        ({"top_k": -1}, "top_k.*-1"),
        ({"top_k": 2.5}, "top_k.*2.5"),
        ({"top_p": 0.0}, "top_p.*0.0"),
        ({"top_p": 1.5}, "top_p.*1.5"),
        ({"n_columns": 0}, "n_columns.*0"),
    ],
)
def test_invalid_parameters_raise_naming_the_value(prior, kwargs, message):
    params = {"n_columns": 2, "seed": 0, **PARAMS, **kwargs}
    with pytest.raises(ValueError, match=message):
        sample(prior, **params)


def test_invalid_prompt(prior):
    with pytest.raises(ValueError, match="shape"):
        sample(
            prior, n_columns=1, seed=0, prompt=torch.zeros(LEVELS, ROWS + 1, 2, dtype=torch.long), **PARAMS
        )
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        sample(
            prior, n_columns=1, seed=0, prompt=torch.full((LEVELS, ROWS, 2), K, dtype=torch.long), **PARAMS
        )


@pytest.mark.parametrize("prompt_columns", [2, 9])  # inside one window / longer than the window
def test_prompt_continuation_keeps_the_prompt(prior, prompt_columns):
    prompt = torch.randint(0, K, (LEVELS, ROWS, prompt_columns))
    codes = sample(prior, n_columns=3, seed=0, prompt=prompt, **PARAMS)
    assert codes.shape == (LEVELS, ROWS, prompt_columns + 3)
    assert torch.equal(codes[..., :prompt_columns], prompt)

    # The prompt conditions the continuation. An untrained prior leans on its context only a
    # little, and both draws use the same random numbers, so one seed's draws may coincide.
    def continued(seed: int, given: torch.Tensor) -> torch.Tensor:
        return sample(prior, n_columns=3, seed=seed, prompt=given, **PARAMS)[..., prompt_columns:]

    assert any(
        not torch.equal(continued(seed, prompt), continued(seed, (prompt + 1) % K)) for seed in range(4)
    )


def test_batched_sampling(prior):
    codes = sample_batch(prior, batch_size=3, n_columns=4, seed=0, temperature=0.8, top_k=4, top_p=0.9)
    assert codes.shape == (3, LEVELS, ROWS, 4)
    assert not torch.equal(codes[0], codes[1])


def reference_sample(prior, *, n_columns, temperature, top_k, top_p, seed, prompt):
    """Full recompute of every window (no cache) with the same slide rule and random draws."""
    context, keep = prior.context_tokens, (prior.context_columns // 2) * PER_COLUMN
    tokens = prior.layout.flatten(prompt[None])
    known = tokens.shape[1]
    tokens = torch.cat([tokens, torch.zeros(1, n_columns * PER_COLUMN, dtype=torch.long)], dim=1)
    generator = torch.Generator().manual_seed(seed)
    start = 0 if known < context else known - keep
    with torch.no_grad():
        for n in range(known, tokens.shape[1]):
            if n - start >= context:
                start = n - keep
            logits = prior(tokens[:, start : n + 1], offset=start).logits[:, -1]
            tokens[:, n] = draw(
                logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
            )
    return prior.layout.unflatten(tokens)[0]


def test_cached_sampling_equals_full_recompute_across_window_slides(prior):
    prior.eval()
    prompt = torch.randint(0, K, (LEVELS, ROWS, 1))
    params = {"n_columns": 10, "temperature": 0.9, "top_k": 6, "top_p": 0.95, "seed": 3, "prompt": prompt}
    # 11 columns through a 4-column window: slides several times.
    assert torch.equal(sample(prior, **params), reference_sample(prior, **params))


def test_draw_samples_the_filtered_distribution():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]]).repeat(20000, 1)
    generator = torch.Generator().manual_seed(0)
    codes = draw(logits, temperature=1.0, top_k=0, top_p=0.8, generator=generator)
    expected = torch.softmax(top_p_filter(logits[:1], 0.8), dim=-1)[0]  # nucleus {0, 2}
    counts = torch.bincount(codes, minlength=4).float() / len(codes)
    assert counts[1] == 0 and counts[3] == 0
    assert torch.allclose(counts, expected, atol=0.01)
    codes = draw(logits, temperature=0.5, top_k=2, top_p=1.0, generator=generator)
    expected = torch.softmax(top_k_filter(logits[:1] / 0.5, 2), dim=-1)[0]
    assert torch.allclose(torch.bincount(codes, minlength=4).float() / len(codes), expected, atol=0.01)


def test_until_ends_sampling_at_the_first_whole_column_it_accepts(prior):
    asked = []

    def until(grid):
        asked.append(grid.shape[-1])
        return grid.shape[-1] == 3

    codes = sample(prior, n_columns=10, seed=0, until=until, **PARAMS)
    assert codes.shape == (LEVELS, ROWS, 3) and asked == [1, 2, 3]
    full = sample(prior, n_columns=10, seed=0, **PARAMS)
    assert torch.equal(codes, full[..., :3])  # the same draws, only stopped early
    never = sample(prior, n_columns=6, seed=0, until=lambda grid: False, **PARAMS)
    assert torch.equal(never, full[..., :6])


def test_a_sound_from_its_start_is_sampled_with_the_start_token(prior):
    import copy

    trained = copy.deepcopy(prior)  # as if training had taught START something BOS does not say
    with torch.no_grad():
        start = start_embedding(trained)
        start += torch.randn(start.shape)
    from_start = sample(trained, n_columns=8, seed=1, file_start=True, **PARAMS)
    assert torch.equal(from_start, sample(trained, n_columns=8, seed=1, file_start=True, **PARAMS))
    # An untrained prior leans on START only a little: over a few seeds, some draw differs.
    assert any(
        not torch.equal(
            sample(trained, n_columns=8, seed=seed, file_start=True, **PARAMS),
            sample(trained, n_columns=8, seed=seed, **PARAMS),
        )
        for seed in range(1, 5)
    )
