"""PriorModule reads which windows begin a file: the start token is part of what it trains on."""

import pytest
import torch

from distill.data.code_windows import CodeWindow
from distill.models.prior import PriorModule
from distill.nn.cell_prior import CellPrior
from distill.nn.prior import CodePrior


def test_the_training_loss_depends_on_which_windows_begin_a_file():
    torch.manual_seed(0)
    net = CodePrior(
        levels=2, rows=2, codebook_size=8, hidden=16, layers=1, heads=2, context_columns=4, dropout=0.0
    )
    with torch.no_grad():
        net.code_embedding.weight[net.start_id] += 1.0  # START and BOS read clearly differently
    module = PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None)
    module.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    tokens = torch.randint(0, 8, (3, 16))
    starting = module.training_step(
        CodeWindow(tokens=tokens, start_column=torch.zeros(3, dtype=torch.long)), 0
    )
    inside = module.training_step(CodeWindow(tokens=tokens, start_column=torch.full((3,), 5)), 0)
    assert not torch.isclose(starting, inside)
    assert torch.isclose(starting, net(tokens, file_start=True).nll(tokens))


def test_input_noise_replaces_the_tokens_read_not_the_tokens_predicted():
    torch.manual_seed(0)
    net = CellPrior(
        levels=2,
        rows=2,
        codebook_size=8,
        hidden=16,
        layers=1,
        heads=2,
        context_columns=4,
        dropout=0.0,
        depth_hidden=8,
        depth_layers=1,
        depth_heads=2,
    )
    module = PriorModule(
        net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None, input_noise=0.3
    )
    tokens = torch.randint(0, 8, (64, 16))
    noisy = module.noisy(tokens)
    changed = (noisy != tokens).float().mean().item()
    assert 0.3 * 7 / 8 - 0.06 < changed < 0.3 * 7 / 8 + 0.06  # a random code equals the old one 1 in 8
    assert noisy.min() >= 0 and noisy.max() < 8
    # The loss reads the noisy tokens and scores the clean ones.
    module.log_dict = lambda *args, **kwargs: None
    torch.manual_seed(1)
    loss = module.training_step(CodeWindow(tokens=tokens, start_column=torch.full((64,), 5)), 0)
    torch.manual_seed(1)
    expected = net(module.noisy(tokens), file_start=False).nll(tokens)
    assert torch.isclose(loss, expected)
    clean = PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None)
    assert clean.noisy(tokens) is tokens
    with pytest.raises(ValueError, match="input_noise"):
        PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None, input_noise=1.0)


def conditioned_prior() -> CodePrior:
    """A tiny flat prior conditioned on the five controls."""
    torch.manual_seed(0)
    return CodePrior(
        levels=2,
        rows=2,
        codebook_size=8,
        hidden=16,
        layers=1,
        heads=2,
        context_columns=4,
        dropout=0.0,
        controls=5,
    )


def test_controls_are_hidden_at_random_in_training_each_and_all_together():
    net = conditioned_prior()
    controls = torch.rand(4000, 5)
    kept = PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None)
    assert torch.equal(kept.hidden_at_random(controls), controls)
    assert kept.hidden_at_random(torch.zeros(3, 0)) is None  # a batch of an unconditioned prior's data
    module = PriorModule(
        net=net,
        vqvae="unused",
        optimizer=torch.optim.AdamW,
        scheduler=None,
        control_dropout=0.2,
        unconditioned_share=0.1,
    )
    drawn = module.hidden_at_random(controls)
    hidden = drawn.isnan()
    all_hidden = hidden.all(1).float().mean().item()
    assert 0.08 < all_hidden < 0.12  # 0.1 + 0.9 * 0.2^5
    assert 0.25 < hidden.float().mean().item() < 0.31  # 0.1 + 0.9 * 0.2
    assert torch.equal(drawn[~hidden], controls[~hidden])  # what is shown is the value itself
    with pytest.raises(ValueError, match="control_dropout"):
        PriorModule(net=net, vqvae="u", optimizer=torch.optim.AdamW, scheduler=None, control_dropout=1.0)


def test_the_loss_reads_the_windows_controls():
    net = conditioned_prior()
    module = PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None)
    module.log_dict = lambda *args, **kwargs: None
    tokens = torch.randint(0, 8, (3, 16))
    starts = torch.zeros(3, dtype=torch.long)  # windows that begin their files
    soft = module.training_step(CodeWindow(tokens=tokens, start_column=starts, controls=torch.zeros(3, 5)), 0)
    loud = module.training_step(CodeWindow(tokens=tokens, start_column=starts, controls=torch.ones(3, 5)), 0)
    assert not torch.isclose(soft, loud)
    assert torch.isclose(soft, net(tokens, file_start=True, controls=torch.zeros(3, 5)).nll(tokens))
