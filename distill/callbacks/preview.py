"""Original-vs-reconstruction previews of a few fixed validation clips, every few epochs.

Mel images always; audio only through a real vocoder when one is configured (never Griffin-Lim).
Files go under ``<run>/previews/epoch_NNN/``; W&B loggers also get them as media.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from distill.data.dataset import Clip
from distill.files import atomic_write, write_wav_atomic
from distill.vocoders.base import Vocoder

log = logging.getLogger(__name__)


def save_mel_comparison(
    path: Path, original: torch.Tensor, reconstruction: torch.Tensor, *, title: str
) -> None:
    """Two stacked log-mel images [n_mels, T] on one shared colour scale, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low, high = float(original.min()), float(original.max())
    figure, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True, constrained_layout=True)
    for axis, mel, name in zip(axes, (original, reconstruction), ("original", "reconstruction"), strict=True):
        image = axis.imshow(mel.numpy(), origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma")
        axis.set_ylabel(f"{name}\nmel band")
    axes[-1].set_xlabel("frame (11.6 ms)")
    figure.colorbar(image, ax=axes, label="log magnitude")
    figure.suptitle(title)
    try:
        atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100))
    finally:
        plt.close(figure)


def fixed_validation_clips(trainer: L.Trainer, count: int) -> list[Clip]:
    """Up to ``count`` validation tiles spread evenly over the validation set, the same every time."""
    loader = trainer.datamodule.val_dataloader()
    if not loader:
        return []
    dataset = loader.dataset
    indices = torch.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().long().tolist()
    return [dataset[i] for i in indices]


class ReconstructionPreview(L.Callback):
    """Every ``every_n_epochs`` epochs, reconstruct ``num_clips`` fixed validation clips."""

    def __init__(
        self, *, every_n_epochs: int, num_clips: int, output_dir: str, vocoder: Vocoder | None
    ) -> None:
        self.every_n_epochs = every_n_epochs
        self.num_clips = num_clips
        self.output_dir = Path(output_dir)
        self.vocoder = vocoder
        self._clips: torch.Tensor | None = None  # [N, n_mels, T]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        clips = fixed_validation_clips(trainer, self.num_clips)
        if clips:
            self._clips = torch.stack([clip.mel for clip in clips])

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            trainer.sanity_checking
            or self._clips is None
            or (trainer.current_epoch + 1) % self.every_n_epochs
        ):
            return
        # What the codes render (texture drawn), as generation and `distill encode` will; validation
        # runs in eval mode, which reconstruct needs (no codebook update).
        recon = pl_module.net.reconstruct(self._clips.to(pl_module.device)).cpu()
        folder = self.output_dir / f"epoch_{trainer.current_epoch:03d}"
        images, audio = [], []
        for index, (original, rebuilt) in enumerate(zip(self._clips, recon, strict=True)):
            image = folder / f"clip_{index}.png"
            save_mel_comparison(
                image, original, rebuilt, title=f"epoch {trainer.current_epoch}, clip {index}"
            )
            images.append(image)
            if self.vocoder is not None:
                audio += self._render(folder, index, original, rebuilt)
        self._log_media(trainer, images, audio)

    def _render(self, folder: Path, index: int, original: torch.Tensor, rebuilt: torch.Tensor) -> list[Path]:
        paths = []
        waves = self.vocoder(torch.stack([original, rebuilt]))  # [2, 1, T * hop]
        for name, wave in zip(("original", "reconstruction"), waves, strict=True):
            path = folder / f"clip_{index}_{name}.wav"
            write_wav_atomic(path, wave[0].cpu().numpy(), self.vocoder.sample_rate)
            paths.append(path)
        return paths

    def _log_media(self, trainer: L.Trainer, images: list[Path], audio: list[Path]) -> None:
        for logger in trainer.loggers:
            if not isinstance(logger, WandbLogger):
                continue
            logger.log_image(key="preview/mel", images=[str(p) for p in images], step=trainer.global_step)
            if audio:
                import wandb

                clips = [
                    wandb.Audio(str(p), sample_rate=self.vocoder.sample_rate, caption=p.stem) for p in audio
                ]
                logger.log_metrics({"preview/audio": clips}, step=trainer.global_step)
