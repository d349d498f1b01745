"""PriorModule reads which windows begin a file: the start token is part of what it trains on."""

import torch

from distill.data.codes import CodeWindow
from distill.models.prior import PriorModule
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
