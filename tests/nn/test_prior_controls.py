"""Priors conditioned on controls: the request reaches every token, the cache keeps it, nothing asked
is its own input, and a prior without controls refuses a request."""

import pytest
import torch
from tiny_priors import LEVELS, ROWS, K, tiny_cell, tiny_flat

from distill.codes.sampling import draw, sample
from distill.nn.cell_prior import CellPrior
from distill.nn.controls import ControlEmbedding, absent
from distill.nn.prior import CodePrior

CONTROLS = 5


def flat(controls: int = CONTROLS) -> CodePrior:
    return tiny_flat(controls=controls)


def cell(controls: int = CONTROLS) -> CellPrior:
    return tiny_cell(controls=controls)


def request(batch: int = 2, **values: float) -> torch.Tensor:
    names = ("loudness", "brightness", "length", "noisiness", "pitch")
    controls = absent(batch, CONTROLS)
    for name, value in values.items():
        controls[:, names.index(name)] = value
    return controls


def test_the_embedding_tells_unasked_from_asked_and_values_apart():
    embedding = ControlEmbedding(count=CONTROLS, hidden=8)
    outputs = embedding(torch.cat([request(1), request(1, brightness=0.0), request(1, brightness=1.0)]))
    assert outputs.shape == (3, 8) and torch.isfinite(outputs).all()
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(outputs[1], outputs[2])
    with pytest.raises(ValueError, match=r"shape \[B, 5\]"):
        embedding(torch.zeros(2, 4))


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_the_request_shapes_how_a_sound_begins_and_none_is_asking_nothing(make):
    prior = make()
    tokens = torch.randint(0, K, (2, prior.context_tokens))
    per_column = LEVELS * ROWS
    with torch.no_grad():
        nothing = prior(tokens, file_start=True).logits
        unasked = prior(tokens, file_start=True, controls=request()).logits
        bright = prior(tokens, file_start=True, controls=request(brightness=1.0)).logits
        inside = prior(tokens, file_start=False).logits
        inside_bright = prior(tokens, file_start=False, controls=request(brightness=1.0)).logits
    assert torch.equal(nothing, unasked)
    assert (bright - nothing)[:, :per_column].abs().amax(-1).min() > 0  # every first-column token
    assert (bright - nothing)[:, per_column:].abs().amax() > 0  # and, through it, what follows
    assert torch.equal(inside, inside_bright)  # a window inside a sound continues it as it is


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_the_cache_keeps_the_request_sampling_steps_equal_the_teacher_forced_window(make):
    prior = make()
    controls = request(loudness=0.2, pitch=0.9)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.zeros(2, prior.context_tokens, dtype=torch.long)
    stepped = torch.zeros(2)
    with torch.no_grad():
        cache = prior.new_cache(2)
        logits = prior.prime(cache, tokens[:, :0], offset=0, file_start=True, controls=controls)
        for t in range(prior.context_tokens):
            tokens[:, t] = draw(logits, temperature=1.0, top_k=0, top_p=1.0, generator=generator)
            stepped += logits.log_softmax(-1).gather(-1, tokens[:, t, None])[:, 0]
            if t + 1 < prior.context_tokens:
                logits = prior.forward_step(cache, tokens[:, t])
        forced = prior(tokens, file_start=True, controls=controls).logits.log_softmax(-1)
    teacher = forced.gather(-1, tokens[..., None])[..., 0].sum(1)
    assert torch.allclose(stepped, teacher, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_sampling_for_a_request_is_reproducible_and_depends_on_it(make):
    prior = make()
    with torch.no_grad():  # at initialisation logits are near-uniform and the request moves them little
        prior.control_embedding.net[2].weight.mul_(100.0)
        for head in prior.level_heads:
            head.weight.mul_(50.0)
    settings = dict(n_columns=9, temperature=1.0, top_k=0, top_p=1.0, seed=3, file_start=True)  # slides twice
    soft = request(1, loudness=0.0)[0]
    first, again = sample(prior, **settings, controls=soft), sample(prior, **settings, controls=soft)
    loud = sample(prior, **settings, controls=request(1, loudness=1.0)[0])
    assert torch.equal(first, again) and not torch.equal(first, loud)


def test_a_prior_without_controls_refuses_a_request_but_takes_nothing_asked():
    prior = flat(controls=0)
    tokens = torch.randint(0, K, (2, 8))
    assert prior.control_embedding is None and prior.controls == 0
    with torch.no_grad():
        assert torch.equal(prior(tokens).logits, prior(tokens, controls=request()).logits)
        with pytest.raises(ValueError, match="trained without controls"):
            prior(tokens, controls=request(loudness=0.5))


def test_gradients_reach_the_control_embedding():
    prior = flat().train()
    tokens = torch.randint(0, K, (2, 8))
    prior(tokens, file_start=True, controls=request(brightness=0.3)).nll(tokens).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prior.control_embedding.parameters())


def test_guidance_moves_the_unconditioned_logits_by_its_multiple_of_what_the_request_changes():
    from distill.codes.sampling import _Request

    request = _Request.of(torch.tensor([0.5, float("nan"), 1.0, float("nan"), 0.0]), 3.0, batch_size=2)
    assert request.rows(2) == 4 and request.controls.shape == (4, 5)
    assert torch.isnan(request.controls[2:]).all() and torch.equal(
        request.controls[0].nan_to_num(-1), request.controls[1].nan_to_num(-1)
    )
    asked, unasked = torch.randn(2, 16), torch.randn(2, 16)
    assert torch.allclose(request.logits(torch.cat([asked, unasked])), unasked + 3.0 * (asked - unasked))
    plain = _Request.of(torch.zeros(5), 1.0, batch_size=2)
    assert plain.rows(2) == 2 and plain.logits(asked) is asked


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_guided_sampling_is_reproducible_and_guidance_changes_it(make):
    prior = make()
    with torch.no_grad():
        prior.control_embedding.net[2].weight.mul_(100.0)
        for head in prior.level_heads:
            head.weight.mul_(50.0)
    settings = dict(n_columns=9, temperature=1.0, top_k=0, top_p=1.0, seed=3, file_start=True)
    bright = request(1, brightness=1.0)[0]
    guided = sample(prior, **settings, controls=bright, guidance=3.0)
    assert torch.equal(guided, sample(prior, **settings, controls=bright, guidance=3.0))
    assert not torch.equal(guided, sample(prior, **settings, controls=bright))
    assert torch.equal(
        sample(prior, **settings, controls=bright, guidance=1.0), sample(prior, **settings, controls=bright)
    )
    with pytest.raises(ValueError, match="guidance"):
        sample(prior, **settings, controls=bright, guidance=float("nan"))
