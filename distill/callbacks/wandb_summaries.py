"""W&B run summaries that hold each metric's best value, not its last."""

from __future__ import annotations

from fnmatch import fnmatchcase

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


class WandbBestSummaries(L.Callback):
    """With a ``WandbLogger``, ``define_metric`` each matching metric with ``summary="min"`` or
    ``"max"``, so the run summary (the runs table, sweep comparisons) keeps its best value; does
    nothing without one.

    Every metric gets an exact definition: W&B matches globs by prefix only, and WandbLogger's
    own ``*`` glob already matches everything, so a second glob would lose to it at random.
    Patterns are ``fnmatch`` patterns (``*`` spans ``/``) checked against each metric Lightning
    collects (``callback_metrics``) as it first appears; W&B's min/max then still counts the value
    logged just before. A pattern with ``{level}`` is defined when fit starts, once per level of a
    module with ``num_levels``: the RVQ-VAE's training codebook health goes straight to the
    loggers and never passes ``callback_metrics``.
    """

    def __init__(self, *, minimize: list[str], maximize: list[str]) -> None:
        self.rules = [(pattern, "min") for pattern in minimize] + [(pattern, "max") for pattern in maximize]
        self._runs: list = []
        self._defined: set[str] = set()

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from lightning.pytorch.loggers import WandbLogger

        self._runs = [logger.experiment for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        self._defined = set()
        levels = getattr(pl_module, "num_levels", None)
        for pattern, summary in self.rules:
            if "{level}" in pattern and levels:
                for level in range(levels):
                    self._define(pattern.format(level=level), summary)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._define_new(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        self._define_new(trainer)

    @rank_zero_only
    def _define_new(self, trainer: L.Trainer) -> None:
        if not self._runs:
            return
        for name in trainer.callback_metrics.keys() - self._defined:
            summary = next((s for p, s in self.rules if "{level}" not in p and fnmatchcase(name, p)), None)
            if summary is not None:
                self._define(name, summary)

    def _define(self, name: str, summary: str) -> None:
        for run in self._runs:
            # The step axis WandbLogger gives its "*" glob, which an exact definition replaces.
            run.define_metric(
                name, summary=summary, step_metric="trainer/global_step", step_sync=True, overwrite=True
            )
        self._defined.add(name)
