"""DistillModel.encode / decode / render: one path from audio to codes and from codes to audio."""

import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import write_tone
from tiny_model import tiny_model

from distill.audio.mel import MelConfig, log_mel
from distill.errors import UserError
from distill.generation.params import GenerationParams
from distill.generation.pipeline import run_generation


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_a_generation_renders_again_from_its_grid(model):
    result = run_generation(model, GenerationParams(duration_s=1.3, seed=5))
    again = model.render(result.grid)
    assert len(again.samples) == result.grid.n_frames * 512 >= len(result.audio.samples)
    assert np.array_equal(again.samples[: len(result.audio.samples)], result.audio.samples)
    assert torch.equal(model.decode(result.grid), result.mel)


def test_encode_takes_a_file_or_samples_and_keeps_every_frame(model, tmp_path):
    path = write_tone(tmp_path / "tone.wav", seconds=0.7)
    samples = sf.read(path, dtype="float32")[0]
    grid = model.encode(path)
    assert grid == model.encode(samples) == model.encode(torch.from_numpy(samples))
    assert grid.n_frames == -(-len(samples) // 512) and grid.columns == -(-grid.n_frames // 16)
    assert grid.vqvae_digest == model.vqvae_digest and grid.mel_fingerprint == MelConfig().fingerprint()
    padded = np.pad(samples, (0, grid.n_frames * 512 - len(samples)))  # the partial hop is kept
    whole = model.vqvae.encode(log_mel(torch.from_numpy(padded), MelConfig())[None])[0]
    # Windowed encoding equals one-shot encoding in its latents (tests/codes/test_convert.py, with a
    # tolerance); the codes may differ where two codes nearly tie and the two paths round differently.
    assert grid.codes.shape == whole.shape and (grid.codes == whole).float().mean() >= 0.9
    rendered = model.render(grid)
    assert len(rendered.samples) == grid.n_frames * 512 and rendered.sample_rate == 44100
    assert rendered.metadata["model"]["name"] == "tiny" and rendered.metadata["vocoder_used"]["kind"]
    assert model.decode(grid).shape == (128, grid.n_frames)


def test_a_grid_of_another_vqvae_or_bad_audio_is_one_clear_error(model, tmp_path):
    grid = model.encode(np.zeros(4096, dtype=np.float32))
    stranger = replace(grid, vqvae_digest="f" * 64)
    with pytest.raises(UserError, match="belongs to VQ-VAE ffffffffffff.*decode it with the model"):
        model.render(stranger)
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    with pytest.raises(UserError, match="broken.wav cannot be encoded"):
        model.encode(broken)
    with pytest.raises(UserError, match="mono samples"):
        model.encode(np.zeros((2, 100), dtype=np.float32))


def test_the_public_api_loads_lazily():
    import subprocess

    code = (
        "import sys, distill; assert 'torch' not in sys.modules;"
        " from distill import CodeGrid, DistillModel, generate;"
        " print(DistillModel.__name__, CodeGrid.__name__, generate.__name__, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["DistillModel", "CodeGrid", "generate", "True"]
    import distill

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        distill.nothing  # noqa: B018
