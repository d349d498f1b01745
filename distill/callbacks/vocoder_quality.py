"""The held-out quality of the checkpoint a vocoder run stands for, kept for its summary.

A run folder stands for its best checkpoint by ``val/loss`` (``distill.models.loading.find_run``);
this records that checkpoint's validation scores, so packaging can put them in the model file and
vocoder selection can rank by them without rendering anything.
"""

from __future__ import annotations

import lightning as L

from distill.vocoders.quality import MSTFT_VERSION


class VocoderQualityRecord(L.Callback):
    """Tracks the validation scores (``val/mel_l1``, ``val/mstft``) of the best epoch by ``monitor``,
    or of the latest epoch for a module that does not rank its checkpoints (``ranks_checkpoints``:
    such a run stands for its last one)."""

    def __init__(self, *, monitor: str) -> None:
        self.monitor = monitor
        self.best: dict | None = None
        self.kind: str | None = None
        self.display_name: str | None = None
        self.generator_updates = 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.kind = pl_module.generator.kind
        self.display_name = pl_module.generator.display_name
        self.generator_updates = int(pl_module.generator_updates)
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or self.monitor not in metrics:
            return
        score = float(metrics[self.monitor])
        ranked = getattr(pl_module, "ranks_checkpoints", True)
        if self.best is None or not ranked or score < self.best["score"]:
            self.best = {
                "score": score,
                "mel_l1": round(float(metrics["val/mel_l1"]), 6),
                "mstft": round(float(metrics["val/mstft"]), 6),
                "mstft_version": MSTFT_VERSION,
                "files": len(trainer.datamodule.val_files),
                "epoch": trainer.current_epoch,
                "generator_updates": self.generator_updates,
            }

    def summary_section(self) -> dict:
        quality = None
        if self.best is not None:
            quality = {key: value for key, value in self.best.items() if key != "score"}
        return {
            "vocoder": {
                "type": self.kind,
                "name": self.display_name,
                "generator_updates": self.generator_updates,
                "quality": quality,
            }
        }

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict) -> None:
        best = state_dict["best"]
        # A run resumed from before the M-STFT's scale changed: its best score is on the old scale
        # (then also val/loss), so the epochs to come are not compared with it.
        self.best = best if best is not None and best.get("mstft_version") == MSTFT_VERSION else None
