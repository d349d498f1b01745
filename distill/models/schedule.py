"""A learning rate that ends with the run's budget, whichever runs out first: steps or time.

Small collections train on CPU budgets of minutes, usually set as ``trainer.max_time``. A schedule
counted in steps cannot know how many steps those minutes hold, so it either stays high to the
end or decays too early; a linear or cosine decay to near zero at the end of the budget is what
trains best at a fixed budget (Li, Yumer & Ramanan 2020, "Budgeted Training", arXiv:1905.04753).
:class:`BudgetSchedule` warms up over a few steps, then follows a cosine from the configured rate
down to ``final_factor`` of it as the run spends its budget: the largest of the shares of its
``max_steps``, ``max_epochs`` and ``max_time`` already used (``budget_progress``). A run that stops earlier (early stopping) simply ends higher.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer


def budget_progress(trainer: L.Trainer) -> float:
    """Share of the run's budget spent, 0..1: the largest of its optimizer-step share (``max_steps``),
    its batch share (``max_epochs``) and its wall-clock share (``max_time``), each measured as
    Lightning stops on it. Batches and optimizer steps differ where a module steps two optimizers
    per batch (an adversarial RVQ-VAE, the vocoder): ``max_epochs`` counts the one, ``max_steps``
    the other, so neither is read as the other (``estimated_stepping_batches`` would)."""
    shares = []
    if trainer.max_steps is not None and trainer.max_steps > 0:
        shares.append(trainer.global_step / trainer.max_steps)
    per_epoch = trainer.num_training_batches
    if (
        trainer.max_epochs is not None
        and trainer.max_epochs > 0
        and math.isfinite(per_epoch)
        and per_epoch > 0
    ):
        # Batches begun, the current one included: as global_step after this batch's optimizer step.
        begun = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        shares.append(begun / (trainer.max_epochs * per_epoch))
    for callback in trainer.callbacks:
        if isinstance(callback, Timer) and (remaining := callback.time_remaining()) is not None:
            elapsed = callback.time_elapsed()
            if elapsed + remaining > 0:
                shares.append(elapsed / (elapsed + remaining))
    return min(max(shares, default=0.0), 1.0)


class BudgetSchedule(torch.optim.lr_scheduler.LRScheduler):
    """Linear warm-up over ``warmup_steps``, then a cosine to ``final_factor`` x the rate at the
    end of the budget. Stepped once per optimizer step; reads the budget through ``progress``
    (set by :func:`configure_optimization`; 0 until then, i.e. the full rate after warm-up)."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, *, warmup_steps: int = 0, final_factor: float = 0.05
    ) -> None:
        if warmup_steps < 0 or not 0.0 <= final_factor <= 1.0:
            raise ValueError(
                f"warmup_steps must be >= 0 and final_factor in [0, 1], got {warmup_steps}, {final_factor}"
            )
        self.warmup_steps = warmup_steps
        self.final_factor = final_factor
        self.progress: Callable[[], float] = lambda: 0.0
        super().__init__(optimizer)

    def factor(self, step: int, progress: float) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
        return warm * (self.final_factor + (1.0 - self.final_factor) * cosine)

    def get_lr(self) -> list[float]:
        factor = self.factor(self.last_epoch, self.progress())
        return [base * factor for base in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        # The progress reader is a closure over the trainer: rebuilt on resume, never saved.
        return {key: value for key, value in super().state_dict().items() if key != "progress"}


def configure_optimization(
    module: L.LightningModule,
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    scheduler_factory: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None,
    *,
    interval: str,
    name: str,
    params=None,
):
    """``configure_optimizers`` of a one-optimizer module: its optimizer and its scheduler. A
    :class:`BudgetSchedule` reads the module's trainer and steps every optimizer step; any other
    scheduler steps every ``interval`` ("step" or "epoch"), as the module's runs always stepped it.

    ``name`` is what LearningRateMonitor logs the rate as (e.g. ``lr/vqvae``); without it the
    rate would be ``lr-AdamW``, named after the optimizer's class rather than what it trains.
    ``params``: what the optimizer trains (default: every parameter of the module).
    """
    optimizer = optimizer_factory(params=module.parameters() if params is None else params)
    if scheduler_factory is None:
        # LearningRateMonitor takes names from scheduler configs only: a constant rate still gets a
        # (no-op) scheduler so that it is logged under the same name as a scheduled one.
        scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        scheduler = scheduler_factory(optimizer=optimizer)
    if isinstance(scheduler, BudgetSchedule):
        scheduler.progress = lambda: budget_progress(module.trainer)
        interval = "step"
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": interval, "name": name},
    }
