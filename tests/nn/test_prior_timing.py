"""A timed prior reads how far into its sound each column lies: the clock starts silent, reaches
every input, runs on across the sampler's slides, and an untimed prior (an old model file) is
built and behaves as before."""

import pytest
import torch
from tiny_priors import LEVELS, ROWS, K, tiny_cell, tiny_flat

from distill.codes.sampling import sample
from distill.nn.cell_prior import CellPrior
from distill.nn.prior import CodePrior
from distill.nn.timing import TimingEmbedding

PER_COLUMN = LEVELS * ROWS


def flat(timing: bool = True) -> CodePrior:
    return tiny_flat(timing=timing)


def cell(timing: bool = True) -> CellPrior:
    return tiny_cell(timing=timing)


def ticking(prior):
    """The prior with its clock's zero start replaced by weights that move the logits clearly."""
    with torch.no_grad():
        torch.manual_seed(1)
        prior.timing_embedding.net[2].weight.normal_(std=1.0)
        for head in prior.level_heads:
            head.weight.mul_(50.0)
    return prior


def test_the_clock_starts_silent_and_reads_the_attack_finer_than_the_tail():
    clock = TimingEmbedding(hidden=8)
    assert torch.equal(clock(torch.arange(100)), torch.zeros(100, 8))
    torch.nn.init.normal_(clock.net[2].weight)
    out = clock(torch.tensor([0, 1, 500, 501]))
    assert out.shape == (4, 8)
    assert (out[0] - out[1]).norm() > 10 * (out[2] - out[3]).norm()  # log scale: seconds apart late on


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_every_window_reads_its_own_age(make):
    prior = ticking(make())
    tokens = torch.randint(0, K, (2, prior.context_tokens))
    with torch.no_grad():
        young = prior(tokens, elapsed=0).logits
        old = prior(tokens, elapsed=40).logits
        mixed = prior(tokens, elapsed=torch.tensor([0, 40])).logits
    assert not torch.allclose(young, old)
    assert torch.allclose(mixed[0], young[0], atol=1e-5) and torch.allclose(mixed[1], old[1], atol=1e-5)
    assert not torch.allclose(young[:, 0], old[:, 0])  # the very first token already reads it


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
@pytest.mark.parametrize("elapsed", [0, 7])
def test_the_clock_runs_on_across_a_slide(make, elapsed):
    """A window re-primed at a later column of the clip, then stepped token by token, gets the same
    logits as the teacher-forced window whose sound is that many columns older."""
    prior = ticking(make())
    start = 2 * PER_COLUMN  # the window starts at clip column 2
    tokens = torch.randint(0, K, (2, start + prior.context_tokens))
    window = tokens[:, start:]
    kept = PER_COLUMN + 1  # a slide keeps whole columns; one more token makes the steps cross cells
    with torch.no_grad():
        cache = prior.new_cache(2)
        stepped = [prior.prime(cache, window[:, :kept], offset=start, elapsed=elapsed)]
        for t in range(kept, prior.context_tokens - 1):
            stepped.append(prior.forward_step(cache, window[:, t]))
        forced = prior(window, elapsed=elapsed + 2).logits
        stale = prior(window, elapsed=elapsed).logits
    stepped = torch.stack(stepped, dim=1)  # predicting window tokens kept..end-1
    assert torch.allclose(stepped, forced[:, kept:], rtol=1e-4, atol=1e-3)
    assert not torch.allclose(stepped, stale[:, kept:], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_sampling_reads_the_clock_and_stays_reproducible(make):
    prior = ticking(make())
    settings = dict(n_columns=9, temperature=1.0, top_k=0, top_p=1.0, seed=3)  # slides twice
    first, again = sample(prior, **settings, elapsed=0), sample(prior, **settings, elapsed=0)
    later = sample(prior, **settings, elapsed=30)
    assert torch.equal(first, again) and not torch.equal(first, later)
    with pytest.raises(ValueError, match="elapsed"):
        sample(prior, **settings, elapsed=-1)


@pytest.mark.parametrize("make", [flat, cell], ids=["flat", "cell"])
def test_an_untimed_prior_is_the_model_of_an_older_file(make):
    """A model file from before the clock builds without it (no new weights, so its saved state
    loads strictly) and ignores any age it is told."""
    untimed, timed = make(timing=False), make(timing=True)
    assert not any("timing" in key for key in untimed.state_dict())
    assert any(key.startswith("timing_embedding.") for key in timed.state_dict())
    reloaded = make(timing=False)
    reloaded.load_state_dict(untimed.state_dict(), strict=True)
    tokens = torch.randint(0, K, (1, untimed.context_tokens))
    with torch.no_grad():
        assert torch.equal(untimed(tokens, elapsed=0).logits, untimed(tokens, elapsed=50).logits)
        # A fresh clock is silent: a newly built timed prior starts where the untimed one does.
        timed.load_state_dict(
            {**untimed.state_dict(), **dict(timed.timing_embedding.state_dict(prefix="timing_embedding."))}
        )
        assert torch.allclose(timed(tokens, elapsed=50).logits, untimed(tokens).logits)
