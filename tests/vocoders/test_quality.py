"""The recorded vocoder quality: bounded and robust to level and silence, and versioned so that an
old model file's number is never ranked against a new one (issue 25)."""

import hydra
import pytest
import torch

from distill.callbacks.vocoder_quality import VocoderQualityRecord
from distill.vocoders.quality import MSTFT_VERSION, VocoderQuality, measure_vocoder, stft_distance_config

SR = 44100


def _distance():
    return hydra.utils.instantiate(stft_distance_config())  # as model/vocoder.yaml sets it


def _organ(peak_db: float, *, silence_s: float = 0.0, tail_s: float = 0.5) -> torch.Tensor:
    """[T]: a chord held 1 s, released over tail_s (down by ~60 dB), digital silence around it."""
    t = torch.arange(int((1.0 + tail_s) * SR)) / SR
    envelope = torch.where(t < 1.0, torch.ones_like(t), torch.exp(-(t - 1.0) * 6.9 / tail_s))
    wave = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((130.8, 196.0, 261.6, 392.0), 1))
    wave = wave * envelope / (wave * envelope).abs().max() * 10 ** (peak_db / 20)
    silence = torch.zeros(int(silence_s * SR))
    return torch.cat([silence, wave, silence])


class _Renderer:
    """Stands for a vocoder: renders each recording (in order) a little off in level, with noise
    ``error`` of the sound's amplitude where it sounds, plus a hiss at ``hiss_db`` dBFS everywhere."""

    def __init__(self, recordings: list[torch.Tensor], *, error: float, hiss_db: float = -130.0):
        self.recordings, self.error, self.hiss = iter(recordings), error, 10 ** (hiss_db / 20)

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        real = next(self.recordings)[: mel.shape[-1] * 512]
        noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(0))
        return (0.97 * real + self.error * noise * real.abs() + self.hiss * noise).view(1, 1, -1)


def _measure(recordings: list[torch.Tensor], *, error: float = 0.1, **renderer) -> VocoderQuality:
    render = _Renderer(recordings, error=error, **renderer)
    return measure_vocoder(render, recordings, stft_distance=_distance())


def test_recorded_quality_is_the_same_for_quiet_recordings_silence_and_quiet_tails():
    loud = _measure([_organ(-1.0), _organ(-6.0)])
    assert loud.mstft_version == MSTFT_VERSION and 0 < loud.mstft < 2
    # The same recordings at -30 dBFS peaks, then with a second of digital silence at both ends,
    # then with a release ten times longer that ends far below the sound.
    assert _measure([_organ(-30.0), _organ(-35.0)]).mstft == pytest.approx(loud.mstft, rel=1e-3)
    padded = _measure([_organ(-30.0, silence_s=1.0), _organ(-35.0, silence_s=1.0)])
    assert padded.mstft == pytest.approx(loud.mstft, rel=0.15)
    tails = _measure([_organ(-30.0, tail_s=5.0), _organ(-35.0, tail_s=5.0)])
    assert tails.mstft == pytest.approx(loud.mstft, rel=0.25)
    # A worse vocoder scores worse; one that hisses at -60 dBFS in the silence scores worse, but
    # bounded (the first definition read ~1e5 on a crop of silence rendered so).
    assert _measure([_organ(-30.0), _organ(-35.0)], error=0.5).mstft > 1.2 * loud.mstft
    hissing = _measure([_organ(-30.0, silence_s=1.0), _organ(-35.0, silence_s=1.0)], hiss_db=-60.0)
    assert padded.mstft < hissing.mstft < 8.0


def test_a_silent_recording_scores_finite_and_bounded():
    silent = [torch.zeros(SR)]
    assert _measure(silent).mstft < 0.05  # silence rendered as silence (-130 dBFS hiss): ~0
    assert 0.5 < _measure(silent, hiss_db=-20.0).mstft < 8.0  # sound where silence was


def test_quality_records_its_scale_and_old_files_still_load():
    new = VocoderQuality(mel_l1=0.2, mstft=1.3, files=2)
    assert VocoderQuality.from_dict(new.as_dict()) == new and new.as_dict()["mstft_version"] == MSTFT_VERSION
    old = VocoderQuality.from_dict({"mel_l1": 0.11, "mstft": 122.78, "files": 3})  # no version: v1
    assert old is not None and old.mstft_version == 1 and not old.comparable(new)
    assert old.describe() == "M-STFT 122.78 (v1 scale), mel L1 0.11 on 3 held-out files"
    assert new.describe() == "M-STFT 1.30, mel L1 0.20 on 2 held-out files"


def test_a_run_from_before_the_distance_settings_still_builds_its_distance():
    distance = hydra.utils.instantiate(stft_distance_config({"resolutions": [[512, 128, 512]]}))
    assert distance.resolutions == [(512, 128, 512)] and distance.floor == pytest.approx(1e-3)


def test_a_resumed_old_run_forgets_its_best_score_on_the_old_scale():
    record = VocoderQualityRecord(monitor="val/loss")
    record.load_state_dict({"best": {"score": 122.78, "mel_l1": 0.11, "mstft": 122.78, "files": 3}})
    assert record.best is None
    best = {"score": 1.2, "mel_l1": 0.11, "mstft": 1.2, "files": 3, "mstft_version": MSTFT_VERSION}
    record.load_state_dict({"best": best})
    assert record.best == best
