"""Vocos-style generator: iSTFT framing equal to the mel's, chunked = one-shot, DC bin zero, the
filterbank-inverse magnitude residual, the folded inference copy, and the mel-matching pass and
time-invariant-phase options."""

import pytest
import torch

from distill.audio.mel import MelConfig, log_mel, mel_filterbank
from distill.nn.mel_generator import MelGenerator
from distill.nn.vocos import InverseSTFT, VocosGenerator
from distill.vocoders.generator import GeneratorVocoder

SMALL = dict(
    in_channels=128, dim=16, intermediate_dim=32, num_layers=2, n_fft=2048, hop_length=512, sample_rate=44100
)


def lively(magnitude_residual: bool = True, seed: int = 0) -> VocosGenerator:
    """SMALL with random (not zero) head and layer scales, so every part shapes the output."""
    torch.manual_seed(seed)
    gen = VocosGenerator(**SMALL, magnitude_residual=magnitude_residual)
    with torch.no_grad():
        gen.head.weight.normal_(0, 0.05)
        for block in gen.blocks:
            block.gamma.fill_(0.5)
    return gen.eval()


def test_inverse_stft_inverts_the_mel_framing_exactly():
    # The analysis log_mel does (reflect pad (n_fft - hop) / 2, center=False), then our inverse:
    # T frames give back the T * hop samples they were measured on.
    config = MelConfig()
    torch.manual_seed(0)
    audio = torch.randn(2, 40 * 512) * 0.1
    pad = (config.n_fft - config.hop_length) // 2
    padded = torch.nn.functional.pad(audio[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(
        padded,
        config.n_fft,
        config.hop_length,
        window=torch.hann_window(config.n_fft),
        center=False,
        return_complex=True,
    )
    assert spec.shape[-1] == log_mel(audio).shape[-1] == 40
    rebuilt = InverseSTFT(n_fft=config.n_fft, hop_length=config.hop_length)(spec)
    assert rebuilt.shape == audio.shape
    torch.testing.assert_close(rebuilt, audio, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_fft, hop", [(64, 16), (24, 16)])  # shifted-block sums, and fold's path
def test_inverse_stft_inverts_any_even_framing(n_fft, hop):
    torch.manual_seed(0)
    audio = torch.randn(1, 30 * hop)
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(audio[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(padded, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)
    rebuilt = InverseSTFT(n_fft=n_fft, hop_length=hop)(spec)
    torch.testing.assert_close(rebuilt, audio, atol=1e-5, rtol=0)


def test_a_frame_renders_the_samples_it_describes():
    # Energy in mel frame t only: the audio lands where the mel analysis of frame t looks,
    # samples [t * hop - 768, t * hop + 1280), and is silent far from it.
    gen = lively()
    mel = torch.full((1, 128, 30), MelConfig().log_floor).log()
    mel[:, :, 12] = 0.0
    with torch.no_grad():
        wave = gen(mel)[0, 0]
    assert wave.shape == (30 * 512,)
    inside = wave[12 * 512 - 768 : 12 * 512 + 1280].abs().max()
    far = torch.cat([wave[: 8 * 512], wave[17 * 512 :]]).abs().max()
    assert inside > 100 * far
    rendered = log_mel(wave[None])[0]  # its own mel peaks at frame 12
    assert int(rendered.mean(0).argmax()) == 12


def test_dc_bin_is_zero_and_no_offset_comes_out():
    gen = lively(magnitude_residual=False)  # a flat spectrum: nothing near DC but what the head asks
    with torch.no_grad():
        gen.head.bias[: gen.bins].fill_(-2.0)
        gen.head.bias[0].fill_(4.0)  # the head asks for a loud DC bin
        mel = torch.randn(1, 128, 40) - 3.0
        spec = gen.spectrum(mel)
        wave = gen(mel)
    assert torch.all(spec[:, 0] == 0)
    assert spec[:, 1:].abs().amax() > 0
    assert wave.abs().max() < 1.0  # not clipped, so what comes out is what the head made
    # What the DC bin the head asked for would have written, against what comes out (what is left
    # is bin 1's leakage through the window, removed at export).
    kept = spec.clone()
    kept[:, 0] = torch.exp(torch.tensor(4.0))
    with torch.no_grad():
        offset = gen.istft(kept).mean().abs()
    assert wave.mean().abs() < 0.02 * offset


def test_magnitude_residual_starts_at_the_filterbank_inverse():
    torch.manual_seed(0)
    gen = VocosGenerator(**SMALL, magnitude_residual=True).eval()
    t = torch.arange(40 * 512) / 44100
    audio = (0.3 * torch.sin(2 * torch.pi * 440 * t) * torch.exp(-2 * t))[None]
    mel = log_mel(audio)
    inverse = torch.linalg.pinv(mel_filterbank(MelConfig()).double()).float()
    with torch.no_grad():
        magnitude = gen.spectrum(mel).abs()
    expected = (inverse @ mel.exp()).clamp(1e-5, 1e2)  # Vocos' magnitude ceiling
    torch.testing.assert_close(magnitude[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-6)
    # Untrained, the magnitude alone already re-analyses close to the mel (the phase is random);
    # the same network without the residual starts far off.
    with torch.no_grad():
        with_residual = (log_mel(gen(mel)[:, 0]) - mel).abs().mean()
        plain = VocosGenerator(**SMALL, magnitude_residual=False).eval()
        without = (log_mel(plain(mel)[:, 0]) - mel).abs().mean()
    assert with_residual < 0.5 * without
    assert "mel_inverse" in gen.state_dict() and "mel_inverse" not in plain.state_dict()


def test_chunked_rendering_equals_one_shot_and_the_folded_copy_is_exact():
    gen = lively()
    torch.manual_seed(1)
    mel = torch.randn(2, 128, 100) - 4.0
    with torch.no_grad():
        reference = gen(mel)
    frozen = gen.inference_module()
    assert not any(p.requires_grad for p in frozen.parameters())
    with torch.no_grad():
        torch.testing.assert_close(frozen(mel), reference, atol=1e-5, rtol=0)
    vocoder = GeneratorVocoder(gen, sample_rate=44100, chunk_frames=24)
    assert vocoder.overlap_frames == gen.receptive_field_frames() == 3 * 3 + 2
    torch.testing.assert_close(vocoder(mel), reference, atol=1e-5, rtol=0)
    # Without context the chunk seams differ: the overlap is what makes it exact.
    seams = GeneratorVocoder(lively(), sample_rate=44100, chunk_frames=24, overlap_frames=0)(mel)
    assert (
        seams[..., 24 * 512 - 2048 : 24 * 512 + 2048] - reference[..., 24 * 512 - 2048 : 24 * 512 + 2048]
    ).abs().max() > 1e-3


def test_is_a_member_of_the_family_with_its_kind():
    gen = VocosGenerator(**SMALL, magnitude_residual=False)
    assert isinstance(gen, MelGenerator)
    assert (gen.kind, gen.display_name, gen.hop_length) == ("vocos", "Vocos", 512)
    with pytest.raises(ValueError, match="even"):
        InverseSTFT(n_fft=2048, hop_length=511)


def test_mel_matching_restores_the_band_levels_that_incoherent_phases_cancel():
    # A head whose phases jump at random from frame to frame (what an untrained or a surprised
    # network gives): overlapping frames cancel, and the rendering's mel falls below the input mel
    # although the head's magnitude is the filterbank inverse. One pass of re-analysis and
    # rescaling brings the rendered band levels back to the mel's.
    torch.manual_seed(0)
    t = torch.arange(60 * 512) / 44100
    audio = (0.2 * torch.sin(2 * torch.pi * 80 * t) + 0.05 * torch.randn_like(t))[None]
    mel = log_mel(audio)

    def rendered_level_error(iterations: int, *, training: bool = False) -> float:
        torch.manual_seed(1)
        gen = VocosGenerator(**SMALL, magnitude_residual=True, mel_consistency_iterations=iterations)
        with torch.no_grad():
            gen.head.weight[gen.bins :].normal_(0, 3.0)  # phases only: the magnitude stays the inverse
            wave = gen.train(training)(mel)
        # Level per band over the whole clip (what a listener hears as the balance), in log units.
        return float(((log_mel(wave[:, 0]).exp().mean(-1) / mel.exp().mean(-1)).log()).abs().mean())

    cancelled, matched = rendered_level_error(0), rendered_level_error(1)
    assert cancelled > 0.3  # the inverse STFT lost more than 2.6 dB per band on average
    assert matched < 0.3 * cancelled
    # Training sees the head's own rendering (the pass is an inference-time refinement).
    assert rendered_level_error(1, training=True) == pytest.approx(cancelled, rel=1e-6)


def test_mel_matching_keeps_chunked_equal_to_one_shot_and_loads_old_weights():
    gen = lively()
    matched = VocosGenerator(**SMALL, magnitude_residual=True, mel_consistency_iterations=1)
    # Rebuilt from the sizes, not saved: a file written without the option loads into it.
    matched.load_state_dict(gen.state_dict())
    matched.eval()
    assert matched.receptive_field_frames() == gen.receptive_field_frames() + 2 * 2
    torch.manual_seed(2)
    mel = torch.randn(1, 128, 100) - 4.0
    with torch.no_grad():
        reference = matched(mel)
        assert (reference - gen(mel)).abs().max() > 1e-3  # the pass does change the rendering
    vocoder = GeneratorVocoder(matched, sample_rate=44100, chunk_frames=24)
    torch.testing.assert_close(vocoder(mel), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("time_invariant_phase, expected_hz", [(False, 86.1 * 5), (True, 21.53 * 21)])
def test_a_steady_partial_keeps_its_frequency_only_with_time_invariant_phase(
    time_invariant_phase, expected_hz
):
    # The same frame everywhere (what a convolutional network gives for a steady sound): energy in
    # bin 21 (452 Hz) alone. In the frame-start convention identical frames repeat every hop, so the
    # partial lands on a multiple of 86 Hz; read as phase from the rendering's start, it stays put.
    gen = VocosGenerator(**SMALL, magnitude_residual=False, time_invariant_phase=time_invariant_phase).eval()
    with torch.no_grad():
        gen.head.weight.zero_()
        gen.head.bias.zero_()
        gen.head.bias[: gen.bins].fill_(-20.0)
        gen.head.bias[21] = 0.0
        wave = gen(torch.zeros(1, 128, 64))[0, 0, 4096:-4096]
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[-1]), n=1 << 18).abs()
    peak_hz = float(spectrum.argmax()) * 44100 / (1 << 18)
    assert abs(peak_hz - expected_hz) < 3.0
    assert gen.frame_period == (4 if time_invariant_phase else 1)


def test_chunks_start_on_the_frame_period_so_chunked_equals_one_shot():
    torch.manual_seed(0)
    gen = VocosGenerator(**SMALL, magnitude_residual=True, time_invariant_phase=True)
    with torch.no_grad():
        gen.head.weight.normal_(0, 0.05)
    mel = torch.randn(1, 128, 90) - 4.0
    with torch.no_grad():
        reference = gen.eval()(mel)
    vocoder = GeneratorVocoder(gen, sample_rate=44100, chunk_frames=23)  # rounded up to 24
    assert (vocoder.chunk_frames, vocoder.overlap_frames) == (24, 12)  # receptive field 11 -> 12
    torch.testing.assert_close(vocoder(mel), reference, atol=1e-5, rtol=0)


def test_a_mel_louder_than_full_scale_is_not_clipped_when_rendering_but_is_bounded_in_training():
    """Clipping a peak makes a one-frame broadband click (seen in generated speech above its 4 kHz
    band); rendering leaves the peak to export, which turns the whole sound down by one gain."""
    gen = lively()
    mel = torch.full((1, 128, 24), 4.0)  # far louder than any recording: magnitudes at their ceiling
    with torch.no_grad():
        rendered = gen(mel)
        training = gen.train()(mel)
    assert rendered.abs().max() > 1.0  # the peak as made, for export to scale
    assert training.abs().max() <= 1.0  # as the losses and discriminators have always seen it
