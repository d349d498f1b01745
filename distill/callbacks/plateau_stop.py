"""Early stopping on the trend of the validation loss, not on one validation's noise.

The prior validates on a few held-out files after every short epoch (17 steps for a 20-file
collection). Lightning's ``EarlyStopping`` (patience 3) stopped such a run after ~80 s of a
10-minute budget, with the learning rate still at 97 % of its peak: three noisy validations
without a new minimum were enough. Here the stop reads the median of the last ``window`` validations
(one bad validation cannot move a median of three),
needs ``patience`` validations in a row without a new best of that median, and never fires before
``min_progress`` of the run's budget (``distill.models.schedule.budget_progress``) is spent:
before that the budget schedule has barely lowered the learning rate, so a plateau there says
more about the rate than about the model. The best checkpoint is kept either way (BestCheckpoint),
so running on past the best costs time, not quality.
"""

from __future__ import annotations

import logging
import math
import statistics
from typing import Any

import lightning as L

from distill.models.schedule import budget_progress

log = logging.getLogger(__name__)


class PlateauStop(L.Callback):
    def __init__(
        self, *, monitor: str = "val/loss", window: int = 3, patience: int = 5, min_progress: float = 0.5
    ) -> None:
        if window < 1 or patience < 1:
            raise ValueError(f"need window >= 1 and patience >= 1, got window={window}, patience={patience}")
        if not 0.0 <= min_progress <= 1.0:
            raise ValueError(f"min_progress must be in [0, 1], got {min_progress}")
        self.monitor = monitor
        self.window = window
        self.patience = patience
        self.min_progress = min_progress
        self.history: list[float] = []
        self.best = math.inf
        self.since_best = 0

    def update(self, value: float, progress: float) -> bool:
        """Record one validation; True when the run should stop."""
        self.history.append(value)
        smoothed = statistics.median(self.history[-self.window :])
        if smoothed < self.best:
            self.best, self.since_best = smoothed, 0
        else:
            self.since_best += 1
        return self.since_best >= self.patience and progress >= self.min_progress

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return  # no validation split (a one-file collection): nothing to stop on
        progress = budget_progress(trainer)
        if self.update(float(value), progress):
            log.info(
                "Stopping: the median %s of the last %d validations has not improved on %.4f for %d"
                " validations (%.0f %% of the budget spent)",
                self.monitor,
                self.window,
                self.best,
                self.since_best,
                100 * progress,
            )
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "best": self.best, "since_best": self.since_best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
        self.best = float(state_dict["best"])
        self.since_best = int(state_dict["since_best"])
