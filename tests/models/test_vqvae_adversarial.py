"""Adversarial training of the RVQ-VAE: the warm-up switch, the best checkpoint of the adversarial
phase, resuming, and model/mel_discriminator=none as the reconstruction-only training it was."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from conftest import SHORT_RUN, TINY_VQVAE, make_sound_folder

from distill.report.data import run_training
from distill.runs import RunSummary, read_run_config
from distill.train import train

pytestmark = pytest.mark.slow
# The adversarial RVQ-VAE at a tiny width.
ADVERSARIAL = [*TINY_VQVAE, "model/mel_discriminator=patch", "model.mel_discriminator.channels=[4,8,8]"]


class StepLog(L.Callback):
    """After every batch: its index, the adversarial updates so far, a digest of the discriminator."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        digest = sum(float(p.detach().double().sum()) for p in pl_module.mel_discriminator.parameters())
        self.rows.append((len(self.rows), int(pl_module.adversarial_steps), digest))


def test_the_discriminator_joins_after_the_warm_up_and_the_best_checkpoint_is_from_then_on(
    compose_cfg, tmp_path: Path, monkeypatch
) -> None:
    import distill.train as train_module

    folder = make_sound_folder(tmp_path / "sounds", 8, seconds=1.0)
    log = StepLog()
    original = train_module.instantiate_callbacks
    monkeypatch.setattr(train_module, "instantiate_callbacks", lambda cfg: [*original(cfg), log])
    cfg = compose_cfg(
        [
            *ADVERSARIAL,
            *SHORT_RUN,
            "trainer.max_epochs=4",
            f"data.path={folder}",
            "data=small",
            "model.adversarial.start=0.5",
        ]  # fmt: skip
    )
    _, built = train(cfg)

    # 4 epochs x 3 batches: the first half trains on reconstruction alone, the discriminator untouched.
    assert len(log.rows) == 12
    first = next(index for index, steps, _ in log.rows if steps > 0)
    assert first == 5  # the batch whose start has spent half of the budget (6 of 12 begun)
    initial = log.rows[0][2]
    assert all(digest == initial for _, steps, digest in log.rows[:first])
    assert log.rows[-1][1] == 12 - first and log.rows[-1][2] != initial
    # The run stands for a checkpoint of the adversarial phase (epochs 1..3 hold its batches).
    best = Path(RunSummary.read(tmp_path / "run").checkpoints["best"]).name
    assert int(best.split("-")[1]) >= first // 3
    assert built["trainer"].global_step == 12 + (12 - first)  # two optimizer steps per adversarial batch
    # The report marks the same rule: the best step is ranked from the first discriminator update on.
    training = run_training(tmp_path / "run", read_run_config(tmp_path / "run"), [])
    ranked_from = min(training.history.points["train/discriminator"])
    val = training.history.points["val/loss"]
    assert training.best_step == min((s for s in val if s >= ranked_from), key=val.get)


def test_an_adversarial_run_resumes_with_both_optimizers_and_its_count(compose_cfg, tmp_path: Path) -> None:
    folder = make_sound_folder(tmp_path / "sounds", 8, seconds=1.0)
    overrides = [*ADVERSARIAL, *SHORT_RUN, f"data.path={folder}", "data=small", "model.adversarial.start=0.2"]
    _, first = train(compose_cfg([*overrides, "trainer.max_epochs=2"]))
    done = int(first["model"].adversarial_steps)
    assert done > 0
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(saved["optimizer_states"]) == 2 and int(saved["state_dict"]["adversarial_steps"]) == done
    _, resumed = train(compose_cfg([*overrides, "trainer.max_epochs=3", f"resume={tmp_path / 'run'}"]))
    assert int(resumed["model"].adversarial_steps) == done + 3  # one more epoch, all adversarial


def test_none_trains_the_reconstruction_alone_exactly_as_the_warm_up_does(
    compose_cfg, tmp_path: Path
) -> None:
    """model/mel_discriminator=none is Lightning's automatic optimization of spectral + commitment;
    an adversarial module whose warm-up spans the whole budget (start > 1) takes the same steps."""
    from distill.data.tiers import resolve_auto_tier

    folder = make_sound_folder(tmp_path / "sounds", 6, seconds=1.0)
    common = [*TINY_VQVAE, f"data.path={folder}", "data=small", "model.adversarial.start=2.0"]
    nets = []
    reference = None
    for option in ("none", "patch"):
        cfg = compose_cfg(
            common + (ADVERSARIAL[-2:] if option == "patch" else ["model/mel_discriminator=none"])
        )
        module = hydra.utils.instantiate(cfg.model)
        assert module.automatic_optimization is (option == "none")
        if reference is None:
            reference = {k: v.clone() for k, v in module.net.state_dict().items()}
        module.net.load_state_dict(reference)
        datamodule = hydra.utils.instantiate(cfg.data)
        datamodule.tier_name = resolve_auto_tier(cfg, len(datamodule.scan().usable))
        trainer = L.Trainer(
            max_epochs=2, limit_train_batches=3, limit_val_batches=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        L.seed_everything(0, verbose=False)
        trainer.fit(module, datamodule=datamodule)
        assert int(getattr(module, "adversarial_steps", 0)) == 0 and trainer.global_step == 6
        nets.append(module.net.state_dict())
    for key, value in nets[0].items():
        torch.testing.assert_close(nets[1][key], value, rtol=1e-5, atol=1e-6, msg=key)
