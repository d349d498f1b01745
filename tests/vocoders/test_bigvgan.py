"""BigVGAN option and vocoder auto-selection, offline: a tiny BigVGAN built from a small config."""

import json
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_bigvgan

from distill.errors import UserError
from distill.vocoders import bigvgan as bigvgan_module
from distill.vocoders.base import Vocoder
from distill.vocoders.bigvgan import BigVGANVocoder, locate
from distill.vocoders.quality import VocoderQuality
from distill.vocoders.selection import select_vocoder

pytest.importorskip("bigvgan")


@pytest.fixture
def tiny_bigvgan(tmp_path: Path) -> Path:
    folder = make_tiny_bigvgan(tmp_path / "bigvgan_tiny")
    assert {"bigvgan_generator.pt", "config.json"} <= {p.name for p in folder.iterdir()}
    return folder


def test_local_bigvgan_renders_our_mel_and_chunks_like_one_shot(tiny_bigvgan: Path):
    vocoder = BigVGANVocoder(folder=tiny_bigvgan, chunk_frames=16, overlap_frames=32)
    mel = torch.randn(1, 128, 50) - 5.0
    wave = vocoder(mel)
    assert wave.shape == (1, 1, 50 * 512)
    one_shot = BigVGANVocoder(folder=tiny_bigvgan, chunk_frames=1000, overlap_frames=0)(mel)
    assert torch.allclose(wave, one_shot, atol=1e-4)


def test_mismatched_mel_and_incomplete_folder_are_clear_errors(tiny_bigvgan: Path, tmp_path: Path):
    config = json.loads((tiny_bigvgan / "config.json").read_text())
    config["hop_size"] = 256
    (tiny_bigvgan / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="uses \\(mels, hop, rate\\)"):
        BigVGANVocoder(folder=tiny_bigvgan, chunk_frames=16, overlap_frames=8)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="lacks bigvgan_generator.pt"):
        locate(tmp_path / "half", download=False)


class _Own(Vocoder):
    sample_rate, hop_length, kind, description = 44100, 512, "vocos", "Vocos (the model's own)"

    def __call__(self, mel):
        return torch.zeros(mel.shape[0], 1, mel.shape[-1] * 512)


GOOD = VocoderQuality(mel_l1=0.25, mstft=1.40, files=4)
WORSE = VocoderQuality(mel_l1=0.30, mstft=1.90, files=4)
POOR = VocoderQuality(mel_l1=0.95, mstft=3.10, files=4)


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache: nothing downloaded


def test_auto_ranks_by_recorded_quality_and_says_why(tiny_bigvgan: Path, offline_hub):
    own = _Own()
    source = str(tiny_bigvgan)
    picked = select_vocoder("auto", own=own, own_quality=GOOD, bigvgan_quality=WORSE, bigvgan_source=source)
    assert picked.vocoder is own and picked.quality == GOOD and picked.warning is None
    assert "M-STFT 1.40 vs BigVGAN's 1.90" in picked.reason
    picked = select_vocoder("auto", own=own, own_quality=WORSE, bigvgan_quality=GOOD, bigvgan_source=source)
    assert isinstance(picked.vocoder, BigVGANVocoder) and picked.quality == GOOD
    assert "renders this model's held-out files better (M-STFT 1.40 vs the model's own 1.90)" in picked.reason
    # Without BigVGAN's number the model's own (trained on this very sound) is kept, and it says so.
    picked = select_vocoder("auto", own=own, own_quality=WORSE, bigvgan_quality=None, bigvgan_source=source)
    assert picked.vocoder is own and "BigVGAN was not measured" in picked.reason


def test_auto_never_ranks_numbers_of_different_scales(tiny_bigvgan: Path, offline_hub):
    # A model file from before MSTFT_VERSION 2 recorded an unbounded M-STFT (122.78 on an organ
    # set) for its own vocoder: ranked against BigVGAN's bounded number it would always lose.
    old = VocoderQuality.from_dict({"mel_l1": 0.11, "mstft": 122.78, "files": 3})
    own = _Own()
    picked = select_vocoder(
        "auto", own=own, own_quality=old, bigvgan_quality=GOOD, bigvgan_source=str(tiny_bigvgan)
    )
    assert picked.vocoder is own and "measured on different scales" in picked.reason
    assert "M-STFT 122.78 (v1 scale), mel L1 0.11 on 3 held-out files" in picked.reason


def test_auto_without_bigvgan_or_own_vocoder(tiny_bigvgan: Path, offline_hub):
    own = _Own()
    missing = "nvidia/bigvgan_v2_44khz_128band_512x"
    picked = select_vocoder("auto", own=own, own_quality=GOOD, bigvgan_quality=None, bigvgan_source=missing)
    assert picked.vocoder is own and "no BigVGAN is available here" in picked.reason
    assert "M-STFT 1.40, mel L1 0.25 on 4 held-out files" in picked.reason
    chosen = select_vocoder(
        "auto", own=None, own_quality=None, bigvgan_quality=None, bigvgan_source=str(tiny_bigvgan)
    )
    assert isinstance(chosen.vocoder, BigVGANVocoder) and "no vocoder of its own" in chosen.reason
    again = select_vocoder(
        "bigvgan", own=own, own_quality=GOOD, bigvgan_quality=None, bigvgan_source=str(tiny_bigvgan)
    )
    assert again.vocoder is chosen.vocoder  # one cached instance per source
    with pytest.raises(UserError, match="python train.py model=vocoder"):
        select_vocoder("auto", own=None, own_quality=None, bigvgan_quality=None, bigvgan_source=missing)
    with pytest.raises(UserError, match="no vocoder of its own"):
        select_vocoder("bundled", own=None, own_quality=None, bigvgan_quality=None)
    with pytest.raises(UserError, match="Unknown vocoder 'griffinlim'"):
        select_vocoder("griffinlim", own=own, own_quality=None, bigvgan_quality=None)


def test_poor_measured_quality_warns_how_to_train_longer(offline_hub):
    picked = select_vocoder(
        "bundled", own=_Own(), own_quality=POOR, bigvgan_quality=None, bigvgan_source="nowhere"
    )
    assert picked.warning is not None
    assert "renders poorly (mel L1 0.95" in picked.warning and "train it longer" in picked.warning
    assert "resume=" in picked.warning


def test_missing_package_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.startswith("bigvgan"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(UserError, match=r"pip install 'distill\[bigvgan\]'"):
        bigvgan_module._require_package()
