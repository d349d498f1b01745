"""While the prior trains: what it makes. Every few epochs a few seeded samples, decoded by the
frozen RVQ-VAE, as mel + code-grid images and (with a vocoder) audio, under previews/ and on W&B."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from distill.codes.plot import plot_generation
from distill.codes.sampling import sample_batch
from distill.files import write_wav_atomic
from distill.vocoders.base import Vocoder


class PriorSamples(L.Callback):
    """``num_samples`` samples of ``columns`` code columns each, begun like a file (the prior's
    START token), the same seed every time so epochs compare like for like."""

    def __init__(
        self,
        *,
        every_n_epochs: int,
        num_samples: int,
        columns: int,
        temperature: float,
        top_k: int,
        top_p: float,
        seed: int,
        output_dir: str,
        vocoder: Vocoder | None,
    ) -> None:
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.columns = columns
        self.sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        self.output_dir = Path(output_dir)
        self.vocoder = vocoder
        self._vqvae = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from distill.models.loading import load_vqvae_net

        self._vqvae = load_vqvae_net(trainer.datamodule.vqvae_source).to(pl_module.device)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            trainer.sanity_checking
            or self._vqvae is None
            or (trainer.current_epoch + 1) % self.every_n_epochs
        ):
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                codes = sample_batch(
                    pl_module.net,
                    batch_size=self.num_samples,
                    n_columns=self.columns,
                    file_start=True,
                    **self.sampling,
                )
                mels = self._vqvae.decode(codes.to(pl_module.device))  # [B, n_mels, C * frames_per_column]
                waves = self.vocoder(mels.cpu()) if self.vocoder is not None else None
        finally:
            pl_module.train(was_training)
        folder = self.output_dir / f"prior_epoch_{trainer.current_epoch:03d}"
        images, audio = [], []
        for index in range(self.num_samples):
            images.append(
                plot_generation(
                    mels[index].cpu(),
                    codes[index].cpu(),
                    folder / f"sample_{index}.png",
                    frames_per_column=self._vqvae.frames_per_column,
                    codebook_size=self._vqvae.quantizer.codebook_size,
                    title=f"prior sample {index}, epoch {trainer.current_epoch}",
                )
            )
            if waves is not None:
                path = folder / f"sample_{index}.wav"
                write_wav_atomic(path, waves[index, 0].numpy(), self.vocoder.sample_rate)
                audio.append(path)
        self._log_media(trainer, images, audio)

    def _log_media(self, trainer: L.Trainer, images: list[Path], audio: list[Path]) -> None:
        for logger in trainer.loggers:
            if not isinstance(logger, WandbLogger):
                continue
            import wandb

            media = {"prior/samples": [wandb.Image(str(path), caption=path.stem) for path in images]}
            if audio:
                media["prior/samples_audio"] = [
                    wandb.Audio(str(path), sample_rate=self.vocoder.sample_rate, caption=path.stem)
                    for path in audio
                ]
            logger.log_metrics(media, step=trainer.global_step)
