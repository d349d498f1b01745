"""The prior's input noise, sized to the seconds of training audio."""

import math

import pytest

from distill.models.regularisation import InputNoiseByAudio

RULE = InputNoiseByAudio(most=0.3, full_up_to_seconds=60.0, none_from_seconds=300.0)


def test_a_small_collection_gets_the_most_and_a_large_one_none():
    assert RULE.amount(1.0) == RULE.amount(60.0) == 0.3
    assert RULE.amount(300.0) == RULE.amount(3600.0) == 0.0


def test_between_the_two_the_amount_falls_with_the_log_of_the_seconds():
    middle = math.sqrt(60.0 * 300.0)  # halfway in log seconds
    assert RULE.amount(middle) == pytest.approx(0.15)
    seconds = [61.0, 90.0, 150.0, 200.0, 299.0]
    amounts = [RULE.amount(s) for s in seconds]
    assert all(0.0 < a < 0.3 for a in amounts)
    assert amounts == sorted(amounts, reverse=True) and len(set(amounts)) == len(amounts)
    # Each doubling of the audio takes off the same amount.
    assert RULE.amount(70.0) - RULE.amount(140.0) == pytest.approx(RULE.amount(140.0) - RULE.amount(280.0))


@pytest.mark.parametrize(
    ("most", "full", "none", "match"),
    [
        (1.0, 60, 300, "most"),
        (-0.1, 60, 300, "most"),
        (0.3, 300, 60, "full_up_to"),
        (0.3, 0, 300, "full_up_to"),
    ],
)
def test_a_rule_that_cannot_hold_is_refused(most, full, none, match):
    with pytest.raises(ValueError, match=match):
        InputNoiseByAudio(most=most, full_up_to_seconds=full, none_from_seconds=none)


def _module(input_noise):
    import torch

    from distill.models.prior import PriorModule
    from distill.nn.prior import CodePrior

    net = CodePrior(
        levels=2, rows=2, codebook_size=8, hidden=16, layers=1, heads=2, context_columns=4, dropout=0.0
    )
    return PriorModule(
        net=net, vqvae="unused", optimizer=torch.optim.AdamW, scheduler=None, input_noise=input_noise
    )


def test_the_prior_module_sizes_its_noise_from_the_training_audio_when_fitting_starts():
    from types import SimpleNamespace

    module = _module(RULE)
    assert module.input_noise == 0.3  # the rule's most until the audio is known
    module.trainer = SimpleNamespace(datamodule=SimpleNamespace(train_seconds=150.0))
    module.setup("validate")
    assert module.input_noise == 0.3
    module.setup("fit")
    assert module.input_noise == pytest.approx(RULE.amount(150.0)) and 0.1 < module.input_noise < 0.15
    module.trainer = SimpleNamespace(datamodule=None)
    with pytest.raises(ValueError, match="train_seconds"):
        module.setup("fit")


def test_a_pinned_amount_is_kept_whatever_the_audio():
    from types import SimpleNamespace

    module = _module(0.1)
    module.trainer = SimpleNamespace(datamodule=SimpleNamespace(train_seconds=10_000.0))
    module.setup("fit")
    assert module.input_noise == 0.1 and module.input_noise_rule is None
