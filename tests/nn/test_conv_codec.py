import pytest
import torch

from distill.audio.mel import silence_frame
from distill.nn.conv_codec import DOWNSAMPLE, SILENCE_LOG_MEL, ConvDecoder, ConvEncoder

KW = dict(channels=(8, 16, 16, 24, 24), latent_dim=12, blocks_per_stage=1)


def _codec(time_kernel: int = 1) -> tuple[ConvEncoder, ConvDecoder]:
    torch.manual_seed(0)
    enc = ConvEncoder(**KW, residual_time_kernel=time_kernel).double().eval()
    dec = ConvDecoder(**KW, residual_time_kernel=time_kernel).double().eval()
    return enc, dec


def test_silence_constant_matches_mel_definition():
    assert torch.allclose(silence_frame(), torch.full((128,), SILENCE_LOG_MEL))


def test_shapes():
    enc, dec = _codec()
    mel = torch.randn(3, 128, 96, dtype=torch.float64)
    latent = enc(mel)
    assert latent.shape == (3, 12, 8, 6)
    assert dec(latent).shape == (3, 128, 96)


@pytest.mark.parametrize(("bands_per_row", "rows"), [(16, 8), (8, 16), (4, 32)])
def test_fewer_bands_per_row_give_more_rows_and_the_same_mel_and_time_span(bands_per_row, rows):
    torch.manual_seed(0)
    enc = ConvEncoder(**KW, residual_time_kernel=1, bands_per_row=bands_per_row).double().eval()
    dec = ConvDecoder(**KW, residual_time_kernel=1, bands_per_row=bands_per_row).double().eval()
    latent = enc(torch.randn(2, 128, 96, dtype=torch.float64))
    assert latent.shape == (2, 12, rows, 6)
    assert dec(latent).shape == (2, 128, 96)
    assert enc.temporal_span == dec.temporal_span == (-16, 31)  # time is unchanged


@pytest.mark.parametrize("bands_per_row", [0, 3, 32])
def test_bands_per_row_must_be_a_power_of_two_up_to_the_cell(bands_per_row):
    with pytest.raises(ValueError, match="bands_per_row must be a power of 2 from 1 to 16"):
        ConvEncoder(**KW, residual_time_kernel=1, bands_per_row=bands_per_row)


def test_rejects_lengths_not_multiple_of_16():
    enc, _ = _codec()
    with pytest.raises(ValueError, match="T of 16"):
        enc(torch.zeros(1, 128, 40))


def test_default_receptive_field_is_three_columns():
    enc, dec = _codec()
    assert enc.temporal_span == (-16, 31)  # own 16 frames + one column either side
    assert dec.temporal_span == (-16, 31)
    assert enc.receptive_field == dec.receptive_field == 3 * DOWNSAMPLE


def test_wider_residual_kernel_widens_receptive_field():
    enc, dec = _codec(time_kernel=3)
    # one residual block per stage at strides 2, 4, 8, 16: each adds (3 - 1) * stride frames
    assert enc.receptive_field == 48 + 2 * (2 + 4 + 8 + 16)
    assert dec.receptive_field == 48 + 2 * (2 + 4 + 8 + 16)


@pytest.mark.parametrize("time_kernel", [1, 3])
def test_encoder_span_matches_measured_dependence(time_kernel):
    enc, _ = _codec(time_kernel)
    n_frames, col = 320, 10
    mel = torch.randn(1, 128, n_frames, dtype=torch.float64, requires_grad=True)
    enc(mel)[..., col].sum().backward()
    depends = (mel.grad != 0).any(dim=1)[0].nonzero().flatten()
    lo, hi = enc.temporal_span
    assert (int(depends[0]), int(depends[-1])) == (DOWNSAMPLE * col + lo, DOWNSAMPLE * col + hi)


def _decoder(kind: str, time_kernel: int = 1) -> ConvDecoder:
    return {"plain": lambda: _codec(time_kernel)[1], "refined": _refined_codec, "pitch": _pitched_decoder}[
        kind
    ]()


@pytest.mark.parametrize(
    ("time_kernel", "kind"), [(1, "plain"), (3, "plain"), (1, "refined"), (1, "pitch"), (3, "pitch")]
)
def test_decoder_span_matches_measured_influence(time_kernel, kind):
    dec = _decoder(kind, time_kernel)
    n_cols, col = 20, 10
    base = torch.randn(1, 12, 8, n_cols, dtype=torch.float64)
    bumped = base.clone()
    bumped[..., col] += 1.0
    changed = (dec(bumped) != dec(base)).any(dim=1)[0].nonzero().flatten()
    lo, hi = dec.temporal_span
    assert (int(changed[0]), int(changed[-1])) == (DOWNSAMPLE * col + lo, DOWNSAMPLE * col + hi)


def test_encoder_crop_equals_whole_away_from_edges():
    enc, _ = _codec()
    mel = torch.randn(2, 128, 320, dtype=torch.float64) * 3 - 6
    whole = enc(mel)
    lo, hi = enc.temporal_span
    start_col, n_cols = 5, 8
    crop = enc(mel[..., DOWNSAMPLE * start_col : DOWNSAMPLE * (start_col + n_cols)])
    # crop column j is exact when its receptive field [16j + lo, 16j + hi] lies inside the crop
    inner = [
        j for j in range(n_cols) if DOWNSAMPLE * j + lo >= 0 and DOWNSAMPLE * j + hi < DOWNSAMPLE * n_cols
    ]
    assert inner == list(range(1, n_cols - 1))
    torch.testing.assert_close(crop[..., inner], whole[..., [start_col + j for j in inner]])
    # and the edge columns really do differ (the margin is needed, not just conservative)
    assert not torch.allclose(crop[..., 0], whole[..., start_col])


@pytest.mark.parametrize("kind", ["plain", "refined", "pitch"])
def test_decoder_crop_equals_whole_away_from_edges(kind):
    dec = _decoder(kind)
    latent = torch.randn(1, 12, 8, 20, dtype=torch.float64)
    whole = dec(latent)
    start_col, n_cols = 6, 8
    crop = dec(latent[..., start_col : start_col + n_cols])
    lo, hi = dec.temporal_span
    # output frame t of the crop sees columns c with 16c + lo <= t <= 16c + hi; all must be in the crop
    margin_left, margin_right = hi - DOWNSAMPLE + 1, -lo
    frames = range(margin_left, DOWNSAMPLE * n_cols - margin_right)
    offset = DOWNSAMPLE * start_col
    torch.testing.assert_close(crop[..., list(frames)], whole[..., [offset + t for t in frames]])
    assert not torch.allclose(crop[..., 0], whole[..., offset])


def test_gradients_reach_every_parameter():
    enc = ConvEncoder(**KW, residual_time_kernel=1)
    dec = ConvDecoder(**KW, residual_time_kernel=1)
    mel = torch.randn(2, 128, 32)
    dec(enc(mel)).sub(mel).abs().mean().backward()
    for name, p in [*enc.named_parameters(), *dec.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _pitched_decoder(time_kernel: int = 1) -> ConvDecoder:
    torch.manual_seed(0)
    return ConvDecoder(**KW, residual_time_kernel=time_kernel, pitch_head_channels=16).double().eval()


def test_a_pitch_head_keeps_the_decoders_span_and_an_encoder_with_a_pitch_input_needs_the_pattern():
    assert _pitched_decoder().temporal_span == (-16, 31)  # inside the 2-D path's: windows are unchanged
    enc = ConvEncoder(**KW, residual_time_kernel=1, pitch_input=True).double()
    mel = torch.randn(1, 128, 32, dtype=torch.float64)
    with pytest.raises(ValueError, match="pitch pattern"):
        enc(mel)
    with pytest.raises(ValueError, match="pitch pattern"):
        _codec()[0](mel, torch.zeros_like(mel))
    assert enc(mel, torch.zeros_like(mel)).shape == (1, 12, 8, 2)


def test_the_decoded_pitch_pattern_reaches_the_mel():
    dec = _pitched_decoder()
    latent = torch.randn(1, 12, 8, 4, dtype=torch.float64)
    decoded = dec.decode(latent)
    assert decoded.pitch is not None and decoded.pitch.logits.shape[-1] == 64
    with torch.no_grad():
        dec.pitch_in.weight.zero_()
        dec.pitch_in.bias.zero_()
    assert not torch.equal(dec.decode(latent).mean, decoded.mean)


def _refined_codec(seed: int = 0) -> ConvDecoder:
    """A decoder with a spectral refiner whose output layer is not zero (as after training)."""
    torch.manual_seed(seed)
    dec = ConvDecoder(**KW, residual_time_kernel=1, refiner_channels=16).double().eval()
    with torch.no_grad():
        dec.refiner[-1].weight.normal_(0.0, 0.1)
    return dec


def test_the_refiner_starts_as_no_change():
    torch.manual_seed(0)
    plain = ConvDecoder(**KW, residual_time_kernel=1).double().eval()
    torch.manual_seed(0)
    refined = ConvDecoder(**KW, residual_time_kernel=1, refiner_channels=16).double().eval()
    latent = torch.randn(2, 12, 8, 6, dtype=torch.float64)
    torch.testing.assert_close(refined(latent), plain(latent))
    assert refined.temporal_span == (-18, 33) and plain.temporal_span == (-16, 31)


def test_the_refiner_sees_every_row_of_its_column():
    # A change in the top row's cell moves the lowest bands: pitch is shared across the spectrum.
    dec = _refined_codec()
    base = torch.randn(1, 12, 8, 4, dtype=torch.float64)
    bumped = base.clone()
    bumped[:, :, 7, 2] += 1.0
    assert (dec(bumped) - dec(base))[0, :16, 32:48].abs().max() > 1e-6


def test_the_refiner_learns_after_one_step():
    torch.manual_seed(0)
    enc = ConvEncoder(**KW, residual_time_kernel=1)
    dec = ConvDecoder(**KW, residual_time_kernel=1, refiner_channels=16)
    optimizer = torch.optim.SGD(dec.parameters(), lr=0.1)
    mel = torch.randn(2, 128, 32)
    for _ in range(2):  # the zero output layer moves first, then the layers before it get gradients
        optimizer.zero_grad()
        dec(enc(mel)).sub(mel).abs().mean().backward()
        optimizer.step()
    for name, p in dec.refiner.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
