"""checkpoints/interrupted.ckpt when training stops on Ctrl-C or an error, to resume from.

Lightning's ``OnExceptionCheckpoint`` does the same, but its presence makes every ``fit`` look for
a checkpoint to resume implicitly (``ckpt_path="last"``) and warn twice on a fresh run; a resume
here is always explicit (``resume=<run>``), so this is a plain callback.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L


class InterruptCheckpoint(L.Callback):
    def __init__(self, *, dirpath: str, filename: str) -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        trainer.save_checkpoint(self.path)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A finished run's interruption is history: its checkpoint must not be mistaken for a newer state.
        if trainer.is_global_zero:
            self.path.unlink(missing_ok=True)
