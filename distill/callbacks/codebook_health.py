"""Live codebook health of the RVQ-VAE, low-utilization warnings and the end-of-run health table.

Works with any LightningModule whose step outputs carry ``codes`` [B, Q, R, C] and which exposes
``codebook_size`` and ``num_levels`` (VQVAEModule does).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from distill.nn.codebook_stats import CodebookUsage, LevelHealth

log = logging.getLogger(__name__)


def health_table(health: list[LevelHealth]) -> list[dict[str, float]]:
    return [asdict(level) for level in health]


def health_metrics(health: list[LevelHealth], split: str) -> dict[str, float]:
    """``codebook/{split}/level{i}/{utilization,perplexity,dead_codes}`` of every level."""
    metrics: dict[str, float] = {}
    for level in health:
        metrics.update(level.metrics(split))
    return metrics


@rank_zero_only
def log_usage_histograms(trainer: L.Trainer, counts: torch.Tensor, split: str) -> None:
    """W&B only: ``codebook/{split}/level{i}/usage``, how often each code index was used this epoch
    (one bar per code), so which codes carry the sound and which lie idle is seen, not just counted."""
    from lightning.pytorch.loggers import WandbLogger

    loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
    if not loggers:
        return
    import numpy as np
    import wandb

    edges = np.arange(counts.shape[1] + 1) - 0.5  # bin i holds code i
    media = {
        f"codebook/{split}/level{level}/usage": wandb.Histogram(np_histogram=(row.numpy(), edges))
        for level, row in enumerate(counts.cpu())
    }
    for logger in loggers:
        logger.log_metrics(media, step=trainer.global_step)


def format_health_table(rows: list[dict[str, float]]) -> str:
    lines = ["level  utilization  perplexity  dead_codes"]
    lines += [
        f"{r['level']:>5}  {r['utilization']:>10.1%}  {r['perplexity']:>10.1f}  {r['dead_codes']:>10}"
        for r in rows
    ]
    return "\n".join(lines)


class CodebookHealthMonitor(L.Callback):
    """Per-level utilization, perplexity and dead codes, logged as ``codebook/train/level{i}/{metric}``.

    - training: codes of the last ``every_n_steps`` steps are pooled and logged every
      ``every_n_steps`` steps (one batch alone holds too few cells to show a 256-code book used);
      never before the codebooks are k-means initialised;
    - validation: the codes of the **whole** validation set (real frames only), logged at epoch
      end as ``codebook/val/level{i}/{metric}``;
    - from epoch ``warn_from_epoch`` on, any level whose utilization over the whole training
      epoch is below ``min_utilization`` raises a warning naming level and value. The training
      epoch, not the validation set, decides: a small collection's validation split may hold
      fewer cells than there are codes, where even a perfectly used codebook looks idle.
      All warnings and the final tables go to the run summary and the log at the end.
    """

    def __init__(self, *, every_n_steps: int, min_utilization: float, warn_from_epoch: int) -> None:
        self.every_n_steps = every_n_steps
        self.min_utilization = min_utilization
        self.warn_from_epoch = warn_from_epoch
        self.warnings: list[str] = []
        self.final_table: list[dict[str, float]] = []  # last training epoch
        self.final_val_table: list[dict[str, float]] = []  # last whole-validation-set pass
        self.live_table: list[dict[str, float]] = []  # the last N-step window (live progress shows it)
        self._train_usage: CodebookUsage | None = None  # the current N-step window
        self._epoch_usage: CodebookUsage | None = None  # the current training epoch
        self._val_usage: CodebookUsage | None = None

    def _usage(self, pl_module: L.LightningModule) -> CodebookUsage:
        return CodebookUsage(num_levels=pl_module.num_levels, codebook_size=pl_module.codebook_size)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._train_usage = self._usage(pl_module)
        self._epoch_usage = self._usage(pl_module)
        self._val_usage = self._usage(pl_module)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_usage.reset()

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not isinstance(outputs, dict) or "codes" not in outputs or not pl_module.net.quantizer.initted:
            return
        codes = outputs["codes"].cpu()
        self._train_usage.update(codes)
        self._epoch_usage.update(codes)
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            # Straight to every logger at this step: self.log from a batch-end hook would be
            # carried into the next step's row as well.
            health = self._train_usage.health()
            self.live_table = health_table(health)
            metrics = health_metrics(health, "train")
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
            self._train_usage.reset()

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self._val_usage is None:
            self._val_usage = self._usage(pl_module)
        self._val_usage.reset()

    def on_validation_batch_end(
        self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        codes, frame_mask = outputs["codes"], outputs["frame_mask"]
        # A code column covers frames_per_column frames: count only columns that hold real audio.
        columns = frame_mask[:, :: pl_module.net.frames_per_column][:, : codes.shape[-1]]  # [B, C]
        masked = torch.where(columns[:, None, None, :], codes, torch.full_like(codes, -1))
        self._val_usage.update(masked.cpu())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self._val_usage.counts.sum() == 0:
            return
        health = self._val_usage.health()
        pl_module.log_dict(health_metrics(health, "val"), on_epoch=True)
        self.final_val_table = health_table(health)
        log_usage_histograms(trainer, self._val_usage.counts, "val")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._epoch_usage is None or self._epoch_usage.counts.sum() == 0:
            return
        health = self._epoch_usage.health()
        self.final_table = health_table(health)
        log_usage_histograms(trainer, self._epoch_usage.counts, "train")
        self._check(trainer, health)

    def _check(self, trainer: L.Trainer, health: list[LevelHealth]) -> None:
        if trainer.current_epoch < self.warn_from_epoch:
            return
        for level in health:
            if level.utilization < self.min_utilization:
                message = (
                    f"epoch {trainer.current_epoch}: codebook level {level.level} utilization"
                    f" {level.utilization:.1%} is below {self.min_utilization:.0%}"
                )
                self.warnings.append(message)
                _warn(message)

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        if self.final_table:
            log.info(
                "Codebook health over the last training epoch:\n%s", format_health_table(self.final_table)
            )
        if self.final_val_table:
            log.info(
                "Codebook health over the validation set:\n%s", format_health_table(self.final_val_table)
            )
        if self.warnings:
            log.warning(
                "%d codebook warning(s) during training:\n%s", len(self.warnings), "\n".join(self.warnings)
            )

    def summary_section(self) -> dict:
        return {
            "codebook_health": self.final_table,
            "codebook_health_val": self.final_val_table,
            "codebook_warnings": list(self.warnings),
        }

    def state_dict(self) -> dict:
        return {
            "warnings": list(self.warnings),
            "final_table": list(self.final_table),
            "final_val_table": list(self.final_val_table),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.warnings = list(state_dict["warnings"])
        self.final_table = list(state_dict["final_table"])
        self.final_val_table = list(state_dict["final_val_table"])


@rank_zero_only
def _warn(message: str) -> None:
    log.warning("Low codebook utilization: %s", message)
