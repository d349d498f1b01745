"""GeneratorVocoder over HiFi-GAN: chunked inference equals the generator's one-shot output and
memory stays bounded (the Vocos generator's own chunking test is in tests/nn/test_vocos.py)."""

import pytest
import torch
from conftest import NARROW_V2

from distill.nn.hifigan import HifiGanGenerator
from distill.vocoders.base import Vocoder, chunked_synthesis
from distill.vocoders.generator import GeneratorVocoder

FRAMES = 64


def _lively_generator(seed: int = 0) -> HifiGanGenerator:
    """NARROW_V2 with its N(0, 0.01) init scaled up 16x, so outputs are O(0.1) (not O(1e-5)) and
    the atol comparisons below are meaningful."""
    torch.manual_seed(seed)
    gen = HifiGanGenerator(**NARROW_V2)
    with torch.no_grad():
        for conv in gen._convs():
            if conv is not gen.conv_pre:
                conv.parametrizations.weight.original0.mul_(16.0)
    return gen


@pytest.fixture(scope="module")
def mel_and_reference():
    """A random mel and the one-shot output of the (weight-norm-removed, eval) generator's own
    forward: the eager reference that the vocoder's faster frozen form must reproduce."""
    gen = _lively_generator()
    gen.remove_weight_norm()
    gen.eval()
    torch.manual_seed(1)
    mel = torch.randn(2, 128, FRAMES)
    with torch.no_grad():
        reference = gen(mel)
    assert reference.abs().max() > 0.1
    return mel, reference


def test_vocoder_is_the_abstract_interface():
    with pytest.raises(TypeError):
        Vocoder()
    assert isinstance(GeneratorVocoder(_lively_generator(), sample_rate=44100, chunk_frames=32), Vocoder)


def test_chunked_equals_one_shot_with_default_overlap(mel_and_reference):
    mel, reference = mel_and_reference
    vocoder = GeneratorVocoder(_lively_generator(), sample_rate=44100, chunk_frames=24)
    assert vocoder.overlap_frames == 15  # V2 receptive field
    wave = vocoder(mel)
    assert wave.shape == (2, 1, FRAMES * 512)
    assert not wave.requires_grad
    assert not vocoder.generator.training
    # Chunk edges included: with context >= receptive field the kept samples are the one-shot ones.
    torch.testing.assert_close(wave, reference, atol=1e-4, rtol=0)


def test_without_overlap_chunk_edges_differ(mel_and_reference):
    # The same check with no context must fail near the edges: proves the overlap is what makes it exact.
    mel, reference = mel_and_reference
    wave = GeneratorVocoder(_lively_generator(), sample_rate=44100, chunk_frames=32, overlap_frames=0)(mel)
    edge = 32 * 512
    assert (wave[..., edge - 512 : edge + 512] - reference[..., edge - 512 : edge + 512]).abs().max() > 1e-3
    # ...while samples farther than the receptive field (12 frames) from the seam still match.
    for centre in (16 * 512, 48 * 512):
        window = slice(centre - 256, centre + 256)
        torch.testing.assert_close(wave[..., window], reference[..., window], atol=1e-4, rtol=0)


def test_short_input_is_rendered_in_one_go(mel_and_reference):
    mel, reference = mel_and_reference
    wave = GeneratorVocoder(_lively_generator(), sample_rate=44100, chunk_frames=FRAMES)(mel)
    torch.testing.assert_close(wave, reference, atol=1e-5, rtol=0)


def test_chunks_never_exceed_chunk_plus_two_overlaps():
    """Flat memory: every render call sees at most chunk + 2 * overlap frames, whatever the length."""
    seen = []

    def render(mel):  # stand-in generator: repeat each frame's first channel hop times
        seen.append(mel.shape[-1])
        return mel[:, :1].repeat_interleave(4, dim=-1)

    mel = torch.randn(1, 3, 1000)
    wave = chunked_synthesis(render, mel, hop_length=4, chunk_frames=64, overlap_frames=10)
    assert max(seen) <= 64 + 2 * 10
    assert len(seen) == 16
    torch.testing.assert_close(wave, render(mel))


def test_rejects_non_batched_mel():
    vocoder = GeneratorVocoder(_lively_generator(), sample_rate=44100, chunk_frames=16)
    with pytest.raises(ValueError):
        vocoder(torch.randn(128, 10))
