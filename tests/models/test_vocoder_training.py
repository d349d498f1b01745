"""Smoke run of the vocoder: a few adversarial steps on tiny audio, then an exact resume."""

from pathlib import Path

import pytest
import torch
from conftest import SHORT_RUN, TINY_VOCODER, make_sound_folder

from distill.train import train

pytestmark = pytest.mark.slow


def test_vocoder_trains_validates_and_resumes_both_optimizers(compose_cfg, tmp_path: Path):
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
    assert objects["trainer"].global_step == 2 * 2 * 3  # manual optimization: two optimizer steps per batch
    for name in ("val/mel_l1", "val/mstft", "train/discriminator", "train/mel_l1"):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert len(saved["optimizer_states"]) == 2 and len(saved["lr_schedulers"]) == 2
    assert saved["lr_schedulers"][0]["last_epoch"] == 2
    previews = sorted(p.name for p in (tmp_path / "run" / "previews" / "epoch_001").iterdir())
    assert previews == ["clip_0_original.wav", "clip_0_vocoded.wav"]

    _, resumed = train(compose_cfg([*overrides, "trainer.max_epochs=3", f"resume={tmp_path / 'run'}"]))
    assert resumed["trainer"].global_step == 3 * 2 * 3
    schedulers = resumed["trainer"].lr_scheduler_configs
    assert [config.scheduler.last_epoch for config in schedulers] == [3, 3]
    lr = resumed["trainer"].optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(2e-4 * 0.999**3)
