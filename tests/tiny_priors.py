"""Tiny priors of both architectures, for the tests that check one option on each."""

import torch

from distill.nn.cell_prior import CellPrior
from distill.nn.prior import CodePrior

LEVELS, ROWS, K = 2, 2, 16
SHAPE = dict(
    levels=LEVELS, rows=ROWS, codebook_size=K, hidden=32, layers=2, heads=4, context_columns=4, dropout=0.0
)


def tiny_flat(**options) -> CodePrior:
    """A seeded flat prior in eval mode; ``options``: its other constructor arguments (timing, controls)."""
    torch.manual_seed(0)
    return CodePrior(**SHAPE, **options).eval()


def tiny_cell(**options) -> CellPrior:
    """A seeded cell prior in eval mode, as :func:`tiny_flat`."""
    torch.manual_seed(0)
    return CellPrior(**SHAPE, depth_hidden=16, depth_layers=1, depth_heads=2, **options).eval()
