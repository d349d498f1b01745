import librosa
import numpy as np
import pytest
import torch

from distill.audio.mel import MelConfig, log_mel, mel_filterbank, silence_frame


def test_filterbank_matches_librosa_slaney():
    config = MelConfig()
    ours = mel_filterbank(config).double().numpy()
    reference = librosa.filters.mel(
        sr=44100, n_fft=2048, n_mels=128, fmin=0.0, fmax=22050.0, htk=False, norm="slaney"
    )
    assert ours.shape == (128, 1025)
    assert np.abs(ours - reference).max() < 1e-6


def test_log_mel_matches_a_numpy_reference_of_the_bigvgan_definition():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(512 * 40) * 0.1).astype(np.float32)
    padded = np.pad(audio, (768, 768), mode="reflect")
    spec = librosa.stft(padded, n_fft=2048, hop_length=512, win_length=2048, window="hann", center=False)
    magnitude = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    fbank = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=128, htk=False, norm="slaney")
    reference = np.log(np.clip(fbank @ magnitude, 1e-5, None))
    ours = log_mel(torch.from_numpy(audio)).numpy()
    assert ours.shape == reference.shape == (128, 40)
    assert np.abs(ours - reference).max() < 1e-3


def test_frames_times_hop_is_the_sample_count_and_batches_work():
    batch = torch.randn(3, 1, 512 * 17) * 0.1
    mel = log_mel(batch)
    assert mel.shape == (3, 128, 17)
    assert torch.allclose(mel[1], log_mel(batch[1, 0]), atol=1e-5)


def test_silence_is_the_log_floor_and_short_input_is_refused():
    assert torch.allclose(silence_frame(), torch.full((128,), float(np.log(1e-5))), atol=1e-4)
    with pytest.raises(ValueError, match="at least 512 samples"):
        log_mel(torch.zeros(100))


def test_mel_is_differentiable():
    audio = (torch.randn(512 * 8) * 0.1).requires_grad_()
    log_mel(audio).mean().backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all()


def test_constants_first_made_while_rendering_still_train():
    # Rendering re-analyses its own output under torch.inference_mode; the filterbank and window it
    # caches then must still serve a training step's mel loss, which needs autograd.
    from distill.audio.mel import _hann_window

    mel_filterbank.cache_clear()
    _hann_window.cache_clear()
    with torch.inference_mode():
        log_mel(torch.randn(1, 4096))
    audio = torch.randn(1, 4096, requires_grad=True)
    log_mel(audio).sum().backward()
    assert audio.grad is not None and audio.grad.abs().sum() > 0
