"""The best checkpoint of the phase a run is for."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class BestCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that ranks checkpoints only while the module says its weights are what
    the run is for (``ranks_checkpoints``, True when the module does not say).

    An adversarial RVQ-VAE first trains on reconstruction alone: those smoother reconstructions
    score a lower val/loss (an L1) than the sharper ones the adversarial phase makes, so ranked
    together the warm-up would stay "best" and the run would stand for the weights it set out to
    improve on. A run that ends inside its warm-up has no best and stands for ``last.ckpt``.
    """

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if getattr(pl_module, "ranks_checkpoints", True):
            super().on_validation_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if getattr(pl_module, "ranks_checkpoints", True):
            super().on_train_epoch_end(trainer, pl_module)
