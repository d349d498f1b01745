"""BigVGAN option and vocoder auto-selection, offline: a tiny BigVGAN built from a small config."""

import json
from pathlib import Path

import pytest
import torch

from distill.errors import UserError
from distill.generate import bigvgan as bigvgan_module
from distill.generate.bigvgan import BigVGANVocoder, locate
from distill.generate.vocoder_selection import select_vocoder

pytest.importorskip("bigvgan")

TINY_CONFIG = {
    "resblock": "1",
    "num_mels": 128,
    "hop_size": 512,
    "sampling_rate": 44100,
    "upsample_rates": [8, 8, 4, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4],
    "upsample_initial_channel": 16,  # must be >= 2 ** (number of upsample layers)
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "activation": "snakebeta",
    "snake_logscale": True,
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
}


@pytest.fixture
def tiny_bigvgan(tmp_path: Path) -> Path:
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    folder = tmp_path / "bigvgan_tiny"
    torch.manual_seed(0)
    BigVGAN(AttrDict(TINY_CONFIG), use_cuda_kernel=False).save_pretrained(folder)
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


def test_auto_selection_prefers_own_then_local_bigvgan_then_explains(
    tiny_bigvgan: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache: nothing downloaded
    own = object()
    assert select_vocoder("auto", own=own, bigvgan_source=tiny_bigvgan) is own
    chosen = select_vocoder("auto", own=None, bigvgan_source=str(tiny_bigvgan))
    assert isinstance(chosen, BigVGANVocoder)
    assert select_vocoder("bigvgan", own=own, bigvgan_source=str(tiny_bigvgan)) is chosen  # cached instance
    with pytest.raises(UserError, match="python train.py model=vocoder"):
        select_vocoder("auto", own=None, bigvgan_source="nvidia/bigvgan_v2_44khz_128band_512x")
    with pytest.raises(UserError, match="no vocoder of its own"):
        select_vocoder("bundled", own=None)
    with pytest.raises(UserError, match="Unknown vocoder 'griffinlim'"):
        select_vocoder("griffinlim", own=own)


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
