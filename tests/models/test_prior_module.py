"""PriorModule reads which windows begin a file: the start token is part of what it trains on."""

import pytest
import torch

from distill.data.codes import CodeWindow
from distill.models.prior import PriorModule
from distill.nn.column_prior import ColumnPrior
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
    starting = module.training_step(CodeWindow(tokens=tokens, file_start=torch.ones(3, dtype=torch.bool)), 0)
    inside = module.training_step(CodeWindow(tokens=tokens, file_start=torch.zeros(3, dtype=torch.bool)), 0)
    assert not torch.isclose(starting, inside)
    assert torch.isclose(starting, net(tokens, file_start=True).nll(tokens))


def test_input_noise_replaces_the_tokens_read_not_the_tokens_predicted():
    torch.manual_seed(0)
    net = ColumnPrior(
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
    loss = module.training_step(CodeWindow(tokens=tokens, file_start=torch.zeros(64, dtype=torch.bool)), 0)
    torch.manual_seed(1)
    expected = net(module.noisy(tokens), file_start=False).nll(tokens)
    assert torch.isclose(loss, expected)
    clean = PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None)
    assert clean.noisy(tokens) is tokens
    with pytest.raises(ValueError, match="input_noise"):
        PriorModule(net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None, input_noise=1.0)
