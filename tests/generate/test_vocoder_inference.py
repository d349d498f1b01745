"""HifiGanVocoder: chunked inference equals the generator's one-shot output, memory stays bounded,
state-dict loading."""

import pytest
import torch

from distill.generate.vocoder import HifiGanVocoder, Vocoder, chunked_synthesis
from distill.nn.hifigan import HifiGanGenerator

# V2's layer layout (so the same hop and receptive field) at a quarter of the width: the
# chunking logic does not depend on width, and the tests run 10x faster.
NARROW_V2 = dict(
    in_channels=128,
    upsample_initial_channel=32,
    upsample_rates=[8, 8, 4, 2],
    upsample_kernel_sizes=[16, 16, 8, 4],
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilations=[[1, 3, 5]] * 3,
    leaky_relu_slope=0.1,
)
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
    assert isinstance(HifiGanVocoder(_lively_generator(), sample_rate=44100, chunk_frames=32), Vocoder)


def test_chunked_equals_one_shot_with_default_overlap(mel_and_reference):
    mel, reference = mel_and_reference
    vocoder = HifiGanVocoder(_lively_generator(), sample_rate=44100, chunk_frames=24)
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
    wave = HifiGanVocoder(_lively_generator(), sample_rate=44100, chunk_frames=32, overlap_frames=0)(mel)
    edge = 32 * 512
    assert (wave[..., edge - 512 : edge + 512] - reference[..., edge - 512 : edge + 512]).abs().max() > 1e-3
    # ...while samples farther than the receptive field (12 frames) from the seam still match.
    for centre in (16 * 512, 48 * 512):
        window = slice(centre - 256, centre + 256)
        torch.testing.assert_close(wave[..., window], reference[..., window], atol=1e-4, rtol=0)


def test_short_input_is_rendered_in_one_go(mel_and_reference):
    mel, reference = mel_and_reference
    wave = HifiGanVocoder(_lively_generator(), sample_rate=44100, chunk_frames=FRAMES)(mel)
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


def test_from_state_dict_with_or_without_weight_norm(mel_and_reference):
    mel, reference = mel_and_reference
    trained = _lively_generator()
    with_norm = HifiGanVocoder.from_state_dict(
        trained.state_dict(), generator_kwargs=NARROW_V2, sample_rate=44100, chunk_frames=32
    )
    trained.remove_weight_norm()
    without_norm = HifiGanVocoder.from_state_dict(
        trained.state_dict(), generator_kwargs=NARROW_V2, sample_rate=44100, chunk_frames=32
    )
    torch.testing.assert_close(with_norm(mel), reference, atol=1e-4, rtol=0)
    torch.testing.assert_close(without_norm(mel), reference, atol=1e-4, rtol=0)


def test_rejects_non_batched_mel():
    vocoder = HifiGanVocoder(_lively_generator(), sample_rate=44100, chunk_frames=16)
    with pytest.raises(ValueError):
        vocoder(torch.randn(128, 10))
