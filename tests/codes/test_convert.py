"""Windowed decoding of long code grids, encoding audio, frame/column arithmetic."""

import pytest
import torch
from conftest import tiny_rvqvae

from distill.audio.mel import MelConfig
from distill.codes.convert import columns_for, decode_windowed, encode_audio, frames_for
from distill.nn.vqvae import RVQVAE


@pytest.fixture(scope="module")
def vqvae() -> RVQVAE:
    return tiny_rvqvae()


def test_duration_arithmetic():
    mel = MelConfig()
    assert frames_for(1.0, mel) == 87  # ceil(44100 / 512)
    assert columns_for(87) == 6 and columns_for(96) == 6 and columns_for(97) == 7
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


def test_encode_audio_covers_every_frame(vqvae):
    samples = torch.randn(44100) * 0.1
    codes = encode_audio(vqvae, samples, MelConfig())
    assert codes.shape == (2, 8, columns_for(frames_for(1.0, MelConfig())))
