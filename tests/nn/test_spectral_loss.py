import pytest
import torch

from distill.nn.spectral_loss import MultiScaleMelLoss


def _loss() -> MultiScaleMelLoss:
    return MultiScaleMelLoss(scales=(1, 2, 4))


def test_zero_for_equal_inputs():
    mel = torch.randn(2, 128, 50)
    assert _loss()(mel, mel.clone()) == 0


def test_constant_offset_gives_the_offset_at_every_scale():
    mel = torch.randn(2, 128, 50)  # 50 frames: not a multiple of 4, the tail still counts
    torch.testing.assert_close(_loss()(mel + 0.7, mel), torch.tensor(0.7))


def test_known_value_differs_between_scales():
    # +1/-1 alternating in time: L1 1 at full resolution, cancels when pooled by 2 and 4
    target = torch.zeros(1, 128, 8)
    pred = torch.tensor([1.0, -1.0] * 4).expand(1, 128, 8)
    torch.testing.assert_close(_loss()(pred, target), torch.tensor(1 / 3))
    torch.testing.assert_close(MultiScaleMelLoss(scales=(1,))(pred, target), torch.tensor(1.0))


def test_mask_excludes_padded_frames():
    loss = _loss()
    target = torch.randn(2, 128, 64)
    pred = target + 0.5
    pred[1, :, 40:] = float("inf")  # padding may hold anything
    target[1, :, 40:] = 123.0
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 40:] = False
    torch.testing.assert_close(loss(pred, target, mask), torch.tensor(0.5))


def test_masked_batch_equals_unpadded_clip():
    loss = _loss()
    pred, target = torch.randn(1, 128, 32), torch.randn(1, 128, 32)
    padded_pred = torch.cat([pred, torch.randn(1, 128, 16)], dim=-1)
    padded_target = torch.cat([target, torch.randn(1, 128, 16)], dim=-1)
    mask = torch.arange(48)[None] < 32
    torch.testing.assert_close(loss(padded_pred, padded_target, mask), loss(pred, target))


def test_gradient_flows_to_prediction():
    pred = torch.randn(1, 128, 16, requires_grad=True)
    _loss()(pred, torch.zeros(1, 128, 16)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        MultiScaleMelLoss(scales=())
    with pytest.raises(ValueError, match="divide"):
        MultiScaleMelLoss(scales=(3,))(torch.zeros(1, 128, 6), torch.zeros(1, 128, 6))
    with pytest.raises(ValueError, match="mask"):
        _loss()(torch.zeros(1, 128, 6), torch.zeros(1, 128, 6), torch.ones(1, 5, dtype=torch.bool))
