import math

import pytest
import torch

from distill.nn.codebook_stats import CodebookUsage, LevelHealth, health_from_codes


def test_single_code_gives_utilization_one_over_k_and_perplexity_one():
    codes = torch.full((2, 1, 8, 5), 3)
    (level,) = health_from_codes(codes, codebook_size=16)
    assert level == LevelHealth(level=0, utilization=1 / 16, perplexity=pytest.approx(1.0), dead_codes=15)


def test_uniform_usage_gives_full_utilization_and_perplexity_k():
    codes = torch.arange(16).repeat(3).view(1, 1, 6, 8)  # every code exactly 3 times
    (level,) = health_from_codes(codes, codebook_size=16)
    assert level.utilization == 1.0
    assert level.perplexity == pytest.approx(16.0)
    assert level.dead_codes == 0


def test_minus_one_entries_are_ignored():
    codes = torch.full((1, 2, 2, 4), -1)
    codes[0, 0] = torch.tensor([[0, 1, 0, 1], [0, 1, 0, 1]])  # level 0: two codes, equal use
    usage = CodebookUsage(num_levels=2, codebook_size=4)
    usage.update(codes)
    assert usage.counts.tolist() == [[4, 4, 0, 0], [0, 0, 0, 0]]
    first, second = usage.health()
    assert (first.utilization, first.perplexity, first.dead_codes) == (0.5, pytest.approx(2.0), 2)
    assert (second.utilization, second.perplexity, second.dead_codes) == (0.0, 0.0, 4)


def test_accumulates_over_batches_and_resets():
    usage = CodebookUsage(num_levels=1, codebook_size=4)
    usage.update(torch.zeros(1, 1, 1, 3, dtype=torch.long))  # code 0 three times
    usage.update(torch.ones(1, 1, 1, 1, dtype=torch.long))  # code 1 once
    (level,) = usage.health()
    p = torch.tensor([0.75, 0.25])
    assert level.utilization == 0.5
    assert level.perplexity == pytest.approx(math.exp(float(-(p * p.log()).sum())))
    usage.reset()
    assert usage.counts.sum() == 0


def test_metrics_names_are_namespaced_per_level():
    usage = CodebookUsage(num_levels=2, codebook_size=4)
    usage.update(torch.tensor([0, 1, 2, 3, 0, 0, 0, 0]).view(1, 2, 1, 4))
    metrics = {name: value for level in usage.health() for name, value in level.metrics("train").items()}
    assert metrics == {
        "codebook/train/level0/utilization": 1.0,
        "codebook/train/level0/perplexity": pytest.approx(4.0),
        "codebook/train/level0/dead_codes": 0.0,
        "codebook/train/level1/utilization": 0.25,
        "codebook/train/level1/perplexity": pytest.approx(1.0),
        "codebook/train/level1/dead_codes": 3.0,
    }
    assert all(isinstance(v, float) for v in metrics.values())


def test_single_grid_and_bad_codes():
    (level,) = health_from_codes(torch.zeros(1, 8, 3, dtype=torch.long), codebook_size=8)
    assert level.dead_codes == 7
    usage = CodebookUsage(num_levels=1, codebook_size=4)
    with pytest.raises(ValueError):
        usage.update(torch.full((1, 1, 1, 1), 4))
    with pytest.raises(ValueError):
        usage.update(torch.zeros(1, 2, 1, 1, dtype=torch.long))
