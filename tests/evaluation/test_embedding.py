"""The sound-effects embedding: our torch front end against librosa and aisfx's own code, and the
embedding against aisfx's model run the way aisfx runs it.

aisfx is installed by `make install`, so these fail (never skip) where it is missing.
"""

from __future__ import annotations

import codecs
import socket
import sys

import numpy as np
import pytest
import torch

from distill.evaluation.embedding import (
    EMBEDDING_DIM,
    INSTALL_COMMAND,
    SAMPLE_RATE,
    EmbeddingModelMissingError,
    SoundEmbedding,
    blocks,
    compressed_mel,
    htk_mel_filterbank,
)


def hit(seconds: float, *, freq: float = 220.0, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A struck sound: a decaying tone over a short noise burst."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(t.size) * np.exp(-30 * t)
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-4 * t) + 0.2 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def embedding() -> SoundEmbedding:
    return SoundEmbedding()


def _librosa_features(samples: np.ndarray) -> np.ndarray:
    """aisfx's spectrogram_librosa.compute_spectrogram on an array, then its 'original' normalisation,
    transposed to [frames, bands] as the model reads it."""
    import librosa
    from aisfx.preprocessing import spectrogram_normalize

    spec = librosa.feature.melspectrogram(
        y=samples, sr=SAMPLE_RATE, n_mels=96, norm=1.0, fmin=0.0, fmax=22050.0, htk=True,
        power=2.0, hop_length=1024, win_length=2048,
    )  # fmt: skip
    return spectrogram_normalize(np.log10(spec * 10000.0 + 1)).T


def test_filterbank_matches_librosa_htk_norm1():
    import librosa

    expected = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1
    )
    ours = htk_mel_filterbank().numpy()
    assert ours.shape == expected.shape == (96, 1025)
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:n_fft=2048 is too large")  # librosa on the clips under a window
@pytest.mark.parametrize("samples", [500, 1024, 44100, 3 * 44100 + 17])
def test_front_end_matches_aisfx_librosa_path(samples):
    clip = hit(samples / SAMPLE_RATE)
    clip = clip / np.abs(clip).max()
    expected = _librosa_features(clip)
    ours = compressed_mel(torch.from_numpy(clip)).numpy()
    assert ours.shape == expected.shape == (1 + samples // 1024, 96)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 13, 99, 100, 101, 130, 150, 160, 260])
def test_blocks_match_aisfx_blocking(frames):
    from aisfx.preprocessing import blocking

    features = np.random.default_rng(frames).random((frames, 96)).astype(np.float32)
    expected = blocking(features, block_size=100, hop_size=50, drop_partial_block=True)
    ours = blocks(torch.from_numpy(features)).numpy()
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected.astype(np.float32))


def test_embedding_matches_aisfx_model(embedding):
    """The whole chain against aisfx's own: its model class and weights loader, its blocking, the
    mean of its per-block embeddings."""
    from aisfx.inference import load_bestModel, load_weights
    from aisfx.preprocessing import blocking
    from numpy._core.multiarray import scalar

    clip = hit(3.7, freq=330.0)
    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType, codecs.encode]
    with torch.serialization.safe_globals(allowed):
        weights, datasets = load_weights("cpu")  # torch.load with the default weights_only=True
    model = load_bestModel(weights, datasets, "cpu")
    block_array = blocking(_librosa_features(clip / np.abs(clip).max()), 100, 50, True)
    with torch.no_grad():
        expected = model.get_embedding(torch.Tensor(block_array)).numpy().mean(axis=0)
    assert block_array.shape[0] == 2
    np.testing.assert_allclose(embedding.embed([clip], SAMPLE_RATE)[0], expected, atol=1e-4)


def test_shape_determinism_and_level(embedding):
    clips = [hit(0.3), hit(0.8, freq=440.0, seed=1), hit(1.5, freq=110.0, seed=2)]
    first = embedding.embed(clips, SAMPLE_RATE)
    assert first.shape == (3, EMBEDDING_DIM) and first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(embedding.embed(clips, SAMPLE_RATE), first)
    # Peak normalisation: the same sound 26 dB quieter is the same input to the model.
    quieter = embedding.embed([0.05 * clip for clip in clips], SAMPLE_RATE)
    np.testing.assert_allclose(quieter, first, atol=1e-4)
    # Different sounds are told apart.
    assert not np.allclose(first[0], first[2], atol=1e-2)
    assert embedding.embed([], SAMPLE_RATE).shape == (0, EMBEDDING_DIM)


def test_one_shot_long_file_silence_and_other_rates(embedding):
    long_file = np.concatenate([hit(0.7, freq=110.0 * (1 + i % 4), seed=i) for i in range(12)])  # 8.4 s
    out = embedding.embed([hit(0.05), long_file, np.zeros(1000, np.float32)], SAMPLE_RATE)
    assert out.shape == (3, EMBEDDING_DIM) and np.isfinite(out).all()
    # The same sound given at 22.05 kHz is resampled to 44.1 kHz and lands nearby.
    at_44k, at_22k = hit(1.0, sample_rate=SAMPLE_RATE), hit(1.0, sample_rate=22050)
    a, b = embedding.embed([at_44k], SAMPLE_RATE)[0], embedding.embed([at_22k], 22050)[0]
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.95


def test_stereo_clip_is_refused(embedding):
    with pytest.raises(ValueError, match="mono"):
        embedding.embed([np.zeros((2, 1000), np.float32)], SAMPLE_RATE)


def test_loading_and_embedding_use_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the embedding tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    out = SoundEmbedding().embed([hit(0.5)], SAMPLE_RATE)
    assert out.shape == (1, EMBEDDING_DIM)


def test_loading_leaves_the_torch_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    SoundEmbedding()
    assert torch.equal(torch.rand(4), expected)


def test_missing_aisfx_is_one_line_naming_the_install(monkeypatch):
    for name in [name for name in sys.modules if name == "aisfx" or name.startswith("aisfx.")] + ["aisfx"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes the import fail
    with pytest.raises(EmbeddingModelMissingError) as caught:
        SoundEmbedding()
    message = str(caught.value)
    assert "\n" not in message and INSTALL_COMMAND in message
