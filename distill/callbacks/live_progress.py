"""``<run>/progress.json``: how far a run is, written while it trains, for whoever watches it from
another process (the notebook studio's progress bar, loss curves and codebook health).

Written atomically at most every ``every_s`` seconds, so a reader never sees half a file and a fast
run does not spend its time writing. The budget share is the one the schedule and the plateau stop
read (``budget_progress``: steps, epochs or wall clock, whichever is furthest), so the bar reaches
the end when Lightning stops. The loss curves keep at most ``max_points`` points per metric, every
other one dropped when full, so the file stays small over a long run; a resume reads them back from
the checkpoint and carries them on.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Timer

from distill.callbacks.codebook_health import CodebookHealthMonitor
from distill.files import write_text_atomic
from distill.models.schedule import budget_progress

PROGRESS_FILE = "progress.json"


class LiveProgress(L.Callback):
    def __init__(self, *, path: str | Path, every_s: float = 1.0, max_points: int = 200) -> None:
        self.path = Path(path)
        self.every_s = every_s
        self.max_points = max_points
        self.curves: dict[str, list[list[float]]] = {}
        self._written_at = -math.inf
        self._started = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Not on_fit_start: a resumed run's step and budget share are restored only by now.
        self._started = time.monotonic()
        self._write(trainer, "training")

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._add_points(trainer)
        if time.monotonic() - self._written_at >= self.every_s:
            self._write(trainer, "training")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._add_points(trainer, prefix="val/")
            self._write(trainer, "training")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._write(trainer, "ended")

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._write(trainer, "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed")

    def state_dict(self) -> dict:
        return {"curves": self.curves}

    def load_state_dict(self, state_dict: dict) -> None:
        self.curves = {name: list(points) for name, points in state_dict.get("curves", {}).items()}

    def _add_points(self, trainer: L.Trainer, prefix: str = "train/") -> None:
        step = trainer.global_step
        for name, value in trainer.callback_metrics.items():
            if not name.startswith(prefix) or value.numel() != 1:
                continue
            number = float(value)
            if not math.isfinite(number):
                continue
            points = self.curves.setdefault(name, [])
            if points and points[-1][0] == step:
                points[-1][1] = number
                continue
            points.append([step, round(number, 5)])
            if len(points) > self.max_points:  # halve the resolution, keep the span and the newest
                self.curves[name] = points[:-1:2] + points[-1:]

    def _write(self, trainer: L.Trainer, state: str) -> None:
        progress = budget_progress(trainer)
        elapsed = self._elapsed(trainer)
        remaining = elapsed * (1 - progress) / progress if progress > 0.01 and state == "training" else None
        health = next((c for c in trainer.callbacks if isinstance(c, CodebookHealthMonitor)), None)
        record = {
            "state": state,
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "progress": round(progress, 4),
            "elapsed_s": round(elapsed, 1),
            "remaining_s": None if remaining is None else round(remaining, 1),
            "curves": self.curves,
            "codebook": health.live_table if health else [],
            "warnings": list(health.warnings) if health else [],
            "written_at": time.time(),
        }
        try:
            write_text_atomic(self.path, json.dumps(record))
        except OSError:  # a watcher's convenience: never the reason a run fails
            return
        self._written_at = time.monotonic()

    def _elapsed(self, trainer: L.Trainer) -> float:
        """Seconds trained, a resumed run's earlier launches included where a Timer counts them."""
        for callback in trainer.callbacks:
            if isinstance(callback, Timer):
                return float(callback.time_elapsed("train"))
        return time.monotonic() - self._started


def read_progress(run_dir: str | Path) -> dict | None:
    """A run's progress.json, or None while it has none (not started) or it cannot be read."""
    try:
        return json.loads((Path(run_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
