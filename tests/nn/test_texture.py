"""The RVQ-VAE's texture: a head that learns the spread of a real mel around the decoded mean, and
decoding that draws it from a fixed noise field."""

import math

import pytest
import torch

from distill.codes.convert import decode_windowed
from distill.nn.conv_codec import ConvDecoder, ConvEncoder
from distill.nn.quantizer import ResidualQuantizer
from distill.nn.spectral_loss import texture_nll
from distill.nn.vqvae import RVQVAE, TEXTURE_FIELD_FRAMES, texture_start

WIDTHS = dict(channels=(8, 16, 16, 24, 24), latent_dim=12, blocks_per_stage=1, residual_time_kernel=1)


def _model(texture: float = 0.5, texture_head: bool = True) -> RVQVAE:
    torch.manual_seed(0)
    model = RVQVAE(
        encoder=ConvEncoder(**WIDTHS),
        quantizer=ResidualQuantizer(
            dim=12, num_levels=2, codebook_size=16, decay=0.8, commitment_weight=0.25,
            kmeans_iters=3, threshold_ema_dead_code=0, quantize_dropout=False,
        ),
        decoder=ConvDecoder(**WIDTHS, texture_head=texture_head),
        texture=texture,
    )  # fmt: skip
    model.train()(torch.randn(4, 128, 96) * 2 - 6)  # k-means init
    return model.eval()


def test_texture_nll_is_the_gaussian_nll_of_the_residual_and_leaves_the_mean_alone():
    torch.manual_seed(0)
    mean = torch.randn(2, 128, 20, requires_grad=True)
    log_scale = torch.randn(2, 128, 20, requires_grad=True)
    target = torch.randn(2, 128, 20)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 12:] = False  # padding: whatever it holds counts for nothing
    loss = texture_nll(mean, log_scale, target, mask)
    r = target - mean.detach()
    expected = (0.5 * (r / log_scale.detach().exp()) ** 2 + log_scale.detach())[
        mask[:, None, :].expand(-1, 128, -1)
    ]
    torch.testing.assert_close(loss.detach(), expected.mean())
    loss.backward()
    assert mean.grad is None  # the reconstruction loss alone moves the mean
    assert log_scale.grad is not None and log_scale.grad[1, :, 12:].abs().max() == 0
    assert log_scale.grad[:, :, :12].abs().max() > 0


def test_texture_nll_is_lowest_where_the_scale_is_the_residual_size():
    target = torch.full((1, 128, 4), 3.0)
    mean = torch.zeros_like(target)
    mask = torch.ones(1, 4, dtype=torch.bool)
    losses = {
        scale: float(texture_nll(mean, torch.full_like(target, math.log(scale)), target, mask))
        for scale in (1.0, 2.0, 3.0, 4.5, 9.0)
    }
    assert min(losses, key=losses.get) == 3.0


def test_the_head_learns_the_spread_without_changing_the_mean():
    """Real mels spread around the decoded mean by an amount that varies bin by bin (here: more
    where the mean is louder); the head learns it from the detached residual, and its gradient
    never reaches the layers the mean comes from."""
    torch.manual_seed(0)
    decoder = ConvDecoder(**WIDTHS, texture_head=True)
    latent = torch.randn(8, 12, 8, 4)
    with torch.no_grad():
        mean = decoder(latent)
    # A spread the head can express from the features the mean is made of: log-linear in the mean.
    spread = 0.5 * torch.exp(0.5 * (mean - mean.mean()) / mean.std())
    trunk = {k: v.clone() for k, v in decoder.state_dict().items() if not k.startswith("texture")}
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-2)
    mask = torch.ones(8, 64, dtype=torch.bool)
    for _ in range(300):
        target = mean + spread * torch.randn_like(mean)
        decoded = decoder.decode(latent)
        optimizer.zero_grad()
        texture_nll(decoded.mean, decoded.log_scale, target, mask).backward()
        optimizer.step()
    for key, value in trunk.items():  # the mean's layers had no gradient: Adam left them as they were
        assert torch.equal(decoder.state_dict()[key], value), key
    with torch.no_grad():
        learned = decoder.decode(latent).log_scale
    assert torch.corrcoef(torch.stack([learned.flatten(), spread.log().flatten()]))[0, 1] > 0.85
    assert (learned.exp() / spread).median() == pytest.approx(1.0, abs=0.15)


def test_decoding_draws_the_texture_the_same_way_every_time():
    model = _model()
    codes = model.encode(torch.randn(1, 128, 96) * 2 - 6)
    mean = model.decoder(model.quantizer.codes_to_latent(codes))
    drawn = model.decode(codes)
    assert not torch.allclose(drawn, mean)  # detail drawn around the mean
    torch.testing.assert_close(model.decode(codes), drawn, rtol=0, atol=0)  # a function of the grid
    # The drawn detail is the predicted scale x texture x the field's noise at these frames.
    scale = model.decoder.decode(model.quantizer.codes_to_latent(codes)).log_scale.exp()
    noise = model.texture_noise[:, :96]
    torch.testing.assert_close(drawn, mean + 0.5 * scale * noise)
    # texture 0 (and an RVQ-VAE from before the head) decodes the mean alone
    model.texture = 0.0
    torch.testing.assert_close(model.decode(codes), mean)


def test_a_window_of_a_grid_draws_the_texture_of_its_own_frames():
    """Decoded apart, a later window lands on the same noise as in the whole grid, so windowed
    decoding joins exactly and an edit only changes the sound where it changes the codes."""
    model = _model()
    codes = model.encode(torch.randn(1, 128, 16 * 12) * 2 - 6)
    whole = model.decode(codes)
    part = model.decode(codes[..., 5:], start_frame=5 * 16)
    # Column 5 onward, away from the cut (a column influences its neighbours): identical.
    torch.testing.assert_close(part[..., 2 * 16 :], whole[..., 7 * 16 :], rtol=1e-5, atol=1e-5)
    # Windows of 16 columns start at columns 0, 12 and 24: the second one's interior is its own.
    codes = model.encode(torch.randn(1, 128, 16 * 40) * 2 - 6)
    whole = model.decode(codes)[0]
    windowed = decode_windowed(model, codes[0], n_frames=16 * 40, window_columns=16, overlap=0.25)
    torch.testing.assert_close(
        windowed[:, 17 * 16 : 23 * 16], whole[:, 17 * 16 : 23 * 16], rtol=1e-5, atol=1e-5
    )


def test_each_seed_is_its_own_draw_and_stays_inside_the_field():
    starts = {texture_start(seed) for seed in range(200)}
    assert len(starts) == 200 and all(0 <= s < TEXTURE_FIELD_FRAMES for s in starts)
    assert texture_start(7) == texture_start(7)
    model = _model()
    codes = model.encode(torch.randn(1, 128, 48) * 2 - 6)
    assert not torch.allclose(
        model.decode(codes, start_frame=texture_start(0)), model.decode(codes, start_frame=texture_start(1))
    )


def test_a_texture_needs_a_head_and_a_decoder_without_one_is_as_before():
    with pytest.raises(ValueError, match="texture_head"):
        _model(texture=0.5, texture_head=False)
    plain = ConvDecoder(**WIDTHS)
    assert not plain.has_texture and plain.decode(torch.randn(1, 12, 8, 2)).log_scale is None
    # A state dict from before the head loads into the same decoder built today.
    ConvDecoder(**WIDTHS).load_state_dict(plain.state_dict())
