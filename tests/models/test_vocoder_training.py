"""Smoke runs of the vocoder: regression steps then adversarial ones on tiny audio, an exact resume,
the recorded held-out quality, HiFi-GAN still selectable, and fine-tuning on RVQ-VAE output."""

from pathlib import Path

import pytest
import torch
from conftest import SHORT_RUN, TINY_HIFIGAN, TINY_VOCODER, make_sound_folder

from distill.models.loading import load_trained_module
from distill.nn.hifigan import HifiGanGenerator
from distill.nn.vocos import VocosGenerator
from distill.runs import RunSummary, find_run
from distill.train import train

pytestmark = pytest.mark.slow


def test_vocos_trains_validates_records_quality_and_resumes(compose_cfg, tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=0.8)
    overrides = [
        *TINY_VOCODER,
        *SHORT_RUN,
        f"data.path={folder}",
        "data=small",
        "callbacks.vocoder_preview.every_n_epochs=2",
        "callbacks.vocoder_preview.num_clips=1",
    ]
    metrics, objects = train(compose_cfg(overrides))
    module = objects["model"]
    assert isinstance(module.generator, VocosGenerator)
    # 2 regression-only updates (one optimizer step each), then 4 adversarial ones (two steps each).
    assert int(module.generator_updates) == 2 * 3
    assert objects["trainer"].global_step == 2 + 2 * 4
    for name in ("val/mel_l1", "val/mstft", "train/discriminator", "train/mel_l1", "train/mstft"):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    assert metrics["val/loss"] == metrics["val/mstft"]  # the best checkpoint is the closest to real audio
    summary = RunSummary.read(tmp_path / "run").to_dict()
    recorded = summary["vocoder"]
    assert (recorded["type"], recorded["name"], recorded["generator_updates"]) == ("vocos", "Vocos", 6)
    history = [row["val/mstft"] for row in summary["loss_history"] if "val/mstft" in row]
    best = min(history)
    assert recorded["quality"]["mstft"] == pytest.approx(best, abs=1e-5)
    assert recorded["quality"]["files"] == 1 and recorded["quality"]["mel_l1"] > 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert len(saved["optimizer_states"]) == 2 and len(saved["lr_schedulers"]) == 2
    assert saved["lr_schedulers"][0]["last_epoch"] == 2
    previews = sorted(p.name for p in (tmp_path / "run" / "previews" / "epoch_001").iterdir())
    assert previews == ["clip_0_original.wav", "clip_0_vocoded.wav"]

    _, resumed = train(compose_cfg([*overrides, "trainer.max_epochs=3", f"resume={tmp_path / 'run'}"]))
    assert int(resumed["model"].generator_updates) == 9  # the counter is restored, not restarted
    assert resumed["trainer"].global_step == 10 + 2 * 3
    schedulers = resumed["trainer"].lr_scheduler_configs
    assert [config.scheduler.last_epoch for config in schedulers] == [3, 3]
    lr = resumed["trainer"].optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(1e-3 * 0.999**3)


def test_hifigan_stays_selectable(compose_cfg, tmp_path: Path):
    folder = make_sound_folder(tmp_path / "sounds", 4, seconds=0.6)
    metrics, objects = train(
        compose_cfg([*TINY_HIFIGAN, *SHORT_RUN, f"data.path={folder}", "data=small", "trainer.max_epochs=1"])
    )
    assert isinstance(objects["model"].generator, HifiGanGenerator)
    assert objects["summary"].vocoder["type"] == "hifigan"
    assert torch.isfinite(torch.tensor(metrics["val/mstft"]))


def test_fine_tuning_renders_the_frozen_rvqvae_reconstruction(compose_cfg, trained_runs, tmp_path: Path):
    vqvae_run = trained_runs["vqvae"]
    overrides = [
        *TINY_VOCODER,
        *SHORT_RUN,
        f"data.path={trained_runs['sounds']}",
        "data=small",
        "data.crop_frames=16",  # whole code columns (the RVQ-VAE works in 16-frame cells)
        "trainer.max_epochs=2",
        f"model.vqvae={vqvae_run}",
    ]
    metrics, objects = train(compose_cfg(overrides))
    # It stands for its last checkpoint, not one ranked by a val/loss the codes set, and its
    # recorded quality is that checkpoint's (the last epoch's).
    run = Path(objects["cfg"].paths.output_dir)
    summary = RunSummary.read(run)
    assert not summary.checkpoints.get("best") and find_run(run)[1].name == "last.ckpt"
    assert summary.vocoder["quality"]["epoch"] == 1
    assert summary.vocoder["quality"]["generator_updates"] == summary.vocoder["generator_updates"]
    module = objects["model"]
    reference, _ = load_trained_module(vqvae_run)
    # Frozen: no gradient and no EMA codebook update moved it (a train-mode forward would).
    assert not module.vqvae.training
    for key, value in reference.net.state_dict().items():
        assert torch.equal(module.vqvae.state_dict()[key], value), key
    mel = torch.randn(1, 128, 16) - 5.0
    # What its codes render, texture drawn: at the field's start in validation, elsewhere in training.
    module.eval()
    assert torch.equal(module.generator_input(mel), reference.net.reconstruct(mel))
    module.train()
    torch.manual_seed(1)
    drawn = module.generator_input(mel)
    assert not torch.equal(drawn, reference.net.reconstruct(mel))
    torch.testing.assert_close(
        drawn,
        reference.net.reconstruct(
            mel, start_frame=int(torch.randint(8192, (), generator=torch.Generator().manual_seed(1)))
        ),
    )
    assert torch.isfinite(torch.tensor(metrics["val/mstft"]))
    config = objects["cfg"]
    assert config.model.vqvae == str(vqvae_run)
