"""Per-epoch history of every logged train/ and val/ metric, kept across resumes for the run summary."""

from __future__ import annotations

import lightning as L


class LossHistory(L.Callback):
    """Appends {epoch, step, metric: value} after each validation (or train epoch without one)."""

    def __init__(self, *, prefixes: list[str]) -> None:
        self.prefixes = tuple(prefixes)
        self.history: list[dict[str, float]] = []

    def _record(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking:
            return
        row = {
            name: round(float(value), 6)
            for name, value in trainer.callback_metrics.items()
            if name.startswith(self.prefixes) and value.numel() == 1
        }
        if row:
            row.update(epoch=trainer.current_epoch, step=trainer.global_step)
            if self.history and self.history[-1]["epoch"] == trainer.current_epoch:
                self.history[-1].update(row)
            else:
                self.history.append(row)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._record(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._record(trainer)

    def summary_section(self) -> dict:
        return {"loss_history": self.history}

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict["history"])
