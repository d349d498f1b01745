"""Audio previews of the vocoder being trained: a few fixed validation clips, every few epochs.

Writes ``<run>/previews/epoch_NNN/clip_i_{original,vocoded}.wav`` and, for W&B loggers, logs
them as audio media (never from inside ``validation_step``).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from distill.callbacks.preview import fixed_validation_clips
from distill.files import write_wav_atomic


class VocoderPreview(L.Callback):
    """Every ``every_n_epochs`` epochs, render ``num_clips`` fixed validation clips with the generator."""

    def __init__(self, *, every_n_epochs: int, num_clips: int, output_dir: str) -> None:
        self.every_n_epochs = every_n_epochs
        self.num_clips = num_clips
        self.output_dir = Path(output_dir)
        self._clips: list[tuple[torch.Tensor, torch.Tensor]] = []  # (mel [n_mels, F], audio [F * hop])

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        hop = pl_module.mel_config.hop_length
        for clip in fixed_validation_clips(trainer, self.num_clips):
            frames = int(clip.frame_mask.sum())
            self._clips.append((clip.mel[:, :frames], clip.audio[0, : frames * hop]))

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._clips or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        folder = self.output_dir / f"epoch_{trainer.current_epoch:03d}"
        rate = pl_module.mel_config.sample_rate
        written = []
        with torch.no_grad():
            for index, (mel, audio) in enumerate(self._clips):
                # What the generator is trained to render: the mel, or the RVQ-VAE's reconstruction of it.
                given = pl_module.generator_input(mel[None].to(pl_module.device))
                vocoded = pl_module.generator(given)[0, 0].cpu()
                for name, wave in (("original", audio), ("vocoded", vocoded)):
                    path = folder / f"clip_{index}_{name}.wav"
                    write_wav_atomic(path, wave.numpy(), rate)
                    written.append(path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                media = [wandb.Audio(str(p), sample_rate=rate, caption=p.stem) for p in written]
                logger.log_metrics({"preview/audio": media}, step=trainer.global_step)
