"""Windowed encoding and decoding of long sounds, frame/column arithmetic."""

import copy
from types import SimpleNamespace

import pytest
import torch
from conftest import tiny_rvqvae

from distill.audio.mel import MelConfig, log_mel
from distill.codes.convert import columns_for, decode_windowed, encode_windowed, frames_for
from distill.nn.vqvae import RVQVAE


@pytest.fixture(scope="module", params=[0, 8], ids=["plain", "pitch"])
def vqvae(request) -> RVQVAE:
    return tiny_rvqvae(pitch_head=request.param)


def test_duration_arithmetic():
    mel = MelConfig()
    assert frames_for(1.0, mel) == 87  # ceil(44100 / 512)
    assert columns_for(87, 16) == 6 and columns_for(96, 16) == 6 and columns_for(97, 16) == 7
    assert frames_for(1e-6, mel) == 1


def test_short_grid_decodes_in_one_piece(vqvae):
    codes = torch.randint(0, 16, (2, 8, 10))
    expected = vqvae.decode(codes[None], 150)[0]
    assert torch.equal(decode_windowed(vqvae, codes, n_frames=150, window_columns=16, overlap=0.1), expected)


@pytest.mark.parametrize("columns", [40, 47, 64])
def test_long_grid_matches_one_shot_away_from_the_seams(vqvae, columns):
    torch.manual_seed(columns)
    codes = torch.randint(0, 16, (2, 8, columns))
    one_shot = vqvae.decode(codes[None])[0]
    windowed = decode_windowed(vqvae, codes, n_frames=16 * columns, window_columns=16, overlap=0.25)
    assert windowed.shape == one_shot.shape
    # The decoder sees 3 columns each side; inside a window, away from its edges, values are equal.
    assert torch.allclose(windowed[:, 4 * 16 : 8 * 16], one_shot[:, 4 * 16 : 8 * 16], atol=1e-5)
    # Crossfaded seams stay within the range of the two windows' values: no spikes.
    assert (windowed - one_shot).abs().max() < (one_shot.max() - one_shot.min())


def test_bad_overlap_is_refused(vqvae):
    with pytest.raises(ValueError, match="overlap"):
        decode_windowed(
            vqvae, torch.zeros(2, 8, 40, dtype=torch.long), n_frames=10, window_columns=16, overlap=0.5
        )


def _clip(n_samples: int, seed: int = 0) -> torch.Tensor:
    """Noise bursts over a sweep: codes that change along the clip."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(n_samples) / 44100
    sweep = torch.sin(2 * torch.pi * (200 + 900 * t) * t)
    bursts = torch.randn(n_samples, generator=generator) * (torch.sin(2 * torch.pi * 1.3 * t) > 0.6)
    return 0.3 * sweep + 0.2 * bursts


class _LatentAsCodes(torch.nn.Module):
    """Stands in for the quantizer so encoding returns the encoder's latents themselves."""

    def forward(self, latent: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(codes=latent)


@pytest.mark.parametrize(("n_samples", "window_columns"), [(44100 * 4 + 123, 3), (44100 * 4, 5), (9000, 64)])
def test_windowed_encoding_equals_one_shot(vqvae, n_samples, window_columns):
    samples = _clip(n_samples)
    hop = MelConfig().hop_length
    n_frames = -(-n_samples // hop)  # the last partial hop is kept (zero-padded), not dropped
    whole_mel = log_mel(torch.nn.functional.pad(samples, (0, n_frames * hop - n_samples)), MelConfig())[None]
    # Every window's latents equal one-shot encoding's: the margins cover the receptive fields.
    latents = copy.deepcopy(vqvae)
    latents.quantizer = _LatentAsCodes()
    windowed, frames = encode_windowed(latents, samples, MelConfig(), window_columns=window_columns)
    assert frames == n_frames
    torch.testing.assert_close(windowed, latents.encode(whole_mel)[0], rtol=0, atol=1e-6)
    # So the codes are one-shot's, but for nearest-code ties float rounding may break either way: a
    # tiny barely trained codebook has many near-ties (0.969 of the cells agreed with AVX2 kernels).
    codes, _ = encode_windowed(vqvae, samples, MelConfig(), window_columns=window_columns)
    one_shot = vqvae.encode(whole_mel)[0]
    assert codes.shape == one_shot.shape == (2, 8, columns_for(n_frames, 16))
    assert (codes == one_shot).float().mean() >= 0.9
    assert codes.unique().numel() > 1  # a clip the codes describe, not one code everywhere


def test_encoding_refuses_an_empty_clip(vqvae):
    with pytest.raises(ValueError, match="empty"):
        encode_windowed(vqvae, torch.zeros(0), MelConfig())
