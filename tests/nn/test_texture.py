"""The RVQ-VAE's texture: a head that learns the spread of a real mel around the decoded mean, and
decoding that draws it from a fixed noise field."""

import math

import pytest
import torch

from distill.audio.mel_pitch import candidate_f0
from distill.codes.convert import decode_windowed
from distill.nn.conv_codec import ConvDecoder, ConvEncoder, DecodedMel
from distill.nn.pitch_head import PitchPrediction
from distill.nn.quantizer import ResidualQuantizer
from distill.nn.spectral_loss import texture_nll
from distill.nn.vqvae import RVQVAE, TEXTURE_FIELD_FRAMES, texture_start

WIDTHS = dict(channels=(8, 16, 16, 24, 24), latent_dim=12, blocks_per_stage=1, residual_time_kernel=1)


def _model(
    texture: float = 0.5,
    texture_head: bool = True,
    *,
    pitch: bool = False,
    texture_unpitched: float | None = None,
    pitch_temperature: float = 1.0,
) -> RVQVAE:
    torch.manual_seed(0)
    model = RVQVAE(
        encoder=ConvEncoder(**WIDTHS, pitch_input=pitch),
        quantizer=ResidualQuantizer(
            dim=12, num_levels=2, codebook_size=16, decay=0.8, commitment_weight=0.25,
            kmeans_iters=3, threshold_ema_dead_code=0, quantize_dropout=False,
        ),
        decoder=ConvDecoder(**WIDTHS, texture_head=texture_head, pitch_head_channels=16 if pitch else 0),
        texture=texture,
        texture_unpitched=texture_unpitched,
        pitch_temperature=pitch_temperature,
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


def _with_voicing(voicing_logit: torch.Tensor) -> DecodedMel:
    frames = voicing_logit.shape[-1]
    pitch = PitchPrediction(logits=torch.zeros(1, 4, frames), voicing_logit=voicing_logit, f0_max=1200.0)
    return DecodedMel(mean=torch.zeros(1, 128, frames), log_scale=torch.zeros(1, 128, frames), pitch=pitch)


def test_pitched_frames_draw_texture_and_unpitched_ones_texture_unpitched():
    model = _model(pitch=True, texture=0.5, texture_unpitched=0.75)
    amount = model.texture_amount(_with_voicing(torch.tensor([[40.0, -40.0, 0.0]])))
    torch.testing.assert_close(amount, torch.tensor([[[0.5, 0.75, 0.625]]]))
    # Decoding draws each frame's amount of the spread, at the voicing the codes decode to.
    with torch.no_grad():  # an untrained head's voicing is nearly constant; spread it out
        for parameter in model.decoder.pitch.parameters():
            parameter.mul_(8.0)
    codes = model.encode(torch.randn(1, 128, 96) * 2 - 6)
    decoded = model.decoder.decode(model.quantizer.codes_to_latent(codes))
    voicing = torch.sigmoid(decoded.pitch.voicing_logit)[:, None, :]
    detail = decoded.log_scale.exp() * model.texture_noise[:, :96]
    torch.testing.assert_close(model.decode(codes), decoded.mean + (0.75 - 0.25 * voicing) * detail)
    assert voicing.std() > 0.01  # so the amount varies over time


def test_one_amount_everywhere_without_a_pitch_head_or_an_unpitched_amount():
    """A decoder without a pitch head cannot tell pitched frames; a model file from before
    texture_unpitched existed (None) draws its one amount everywhere, as it did."""
    plain = _model(texture=0.5, texture_unpitched=0.75)
    assert plain.texture_amount(plain.decoder.decode(torch.randn(1, 12, 8, 2))) == 0.5
    before = _model(pitch=True, texture=0.5)
    assert before.texture_unpitched == 0.5
    assert before.texture_amount(_with_voicing(torch.tensor([[40.0, -40.0]]))) == 0.5
    only_unpitched = _model(pitch=True, texture=0.0, texture_unpitched=1.0)
    codes = only_unpitched.encode(torch.randn(1, 128, 48) * 2 - 6)
    assert not torch.allclose(
        only_unpitched.decode(codes), only_unpitched.decoder(only_unpitched.quantizer.codes_to_latent(codes))
    )


@pytest.mark.parametrize("amount", [-0.1, float("nan")])
def test_a_bad_unpitched_amount_is_refused(amount):
    with pytest.raises(ValueError, match="texture_unpitched"):
        _model(texture_unpitched=amount)
    with pytest.raises(ValueError, match="texture_unpitched"):
        _model(texture=0.0, texture_head=False, texture_unpitched=0.5)


def test_decoding_renders_the_pitch_at_its_temperature_and_training_at_one():
    """decode (every rendering of a grid) reads the pitch head at pitch_temperature; the training
    forward renders at 1, so the option changes no training; a model file from before it decodes
    at 1, as it did."""
    sharp, plain = _model(pitch=True, pitch_temperature=0.5), _model(pitch=True)
    assert plain.pitch_temperature == 1.0
    with torch.no_grad():  # an untrained head's distribution is nearly flat: make it matter
        for model in (sharp, plain):
            for parameter in model.decoder.pitch.parameters():
                parameter.mul_(8.0)
    mel = torch.randn(1, 128, 96) * 2 - 6
    codes = plain.encode(mel)
    latent = sharp.quantizer.codes_to_latent(codes)
    at_half = sharp.decoder.decode(latent, pitch_temperature=0.5)
    torch.testing.assert_close(
        sharp.decode(codes), at_half.mean + 0.5 * at_half.log_scale.exp() * sharp.texture_noise[:, :96]
    )
    assert not torch.allclose(sharp.decode(codes), plain.decode(codes))
    torch.testing.assert_close(sharp(mel).recon, plain(mel).recon)


@pytest.mark.parametrize("temperature", [0.0, -0.5, 1.5, float("nan")])
def test_a_pitch_temperature_outside_zero_to_one_is_refused(temperature):
    with pytest.raises(ValueError, match="pitch_temperature"):
        _model(pitch=True, pitch_temperature=temperature)


def test_a_note_asked_for_is_rendered_as_a_certain_prediction_of_it_would_be():
    """decode(pitch_hz=f) renders what the decoder renders when its pitch head is certain of f: the
    note replaces the pitch the codes carry, in every window of a long grid, and nothing else."""
    model = _model(pitch=True, pitch_temperature=0.5)
    codes = model.encode(torch.randn(1, 128, 96) * 2 - 6)
    f0 = float(candidate_f0(f0_max=model.decoder.pitch_f0_max)[60])
    steered = model.decode(codes, pitch_hz=f0)
    assert not torch.allclose(steered, model.decode(codes))
    head = model.decoder.pitch.forward

    def certain(latent):
        prediction = head(latent)
        logits = torch.full_like(prediction.logits, -1e4)
        logits[:, 60] = 1e4
        return PitchPrediction(
            logits=logits, voicing_logit=prediction.voicing_logit, f0_max=prediction.f0_max
        )

    model.decoder.pitch.forward = certain
    torch.testing.assert_close(steered, model.decode(codes))
    del model.decoder.pitch.forward
    long = torch.cat([codes] * 3, dim=-1)[0]
    windowed = decode_windowed(model, long, n_frames=288, window_columns=8, overlap=0.25, pitch_hz=f0)
    assert torch.allclose(windowed[:, :64], model.decode(long[None, ..., :8], pitch_hz=f0)[0, :, :64])
    assert not torch.allclose(
        windowed, decode_windowed(model, long, n_frames=288, window_columns=8, overlap=0.25)
    )


def test_a_note_beyond_the_pitch_head_or_without_one_is_refused():
    model = _model(pitch=True)
    codes = model.encode(torch.randn(1, 128, 32) * 2 - 6)
    low, high = model.decoder.pitch_range
    assert (low, high) == (50.0, model.decoder.pitch_f0_max)
    model.decode(codes, pitch_hz=high)
    with pytest.raises(ValueError, match="outside the pitch head"):
        model.decode(codes, pitch_hz=high * 1.01)
    without = _model()
    assert without.decoder.pitch_range is None
    with pytest.raises(ValueError, match="needs a decoder with a pitch head"):
        without.decode(codes, pitch_hz=220.0)
