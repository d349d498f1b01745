"""A callback for kill tests: slows each training step and says which step a subprocess is on.

Loaded by ``train.py`` in a subprocess (``+callbacks.step_marker._target_=step_marker.StepMarker``
with ``tests/`` on PYTHONPATH), so the test can SIGKILL it at a known point: mid-epoch, after a
checkpoint exists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L


class StepMarker(L.Callback):
    def __init__(self, *, marker: str, seconds: float) -> None:
        self.marker = Path(marker)
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)
        temp = self.marker.with_suffix(".tmp")
        temp.write_text(f"{trainer.current_epoch} {batch_idx} {trainer.global_step}")
        os.replace(temp, self.marker)
