"""VQVAEModule: the thin Lightning wrapper that trains ``distill.nn.vqvae.RVQVAE``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F

from distill.data.dataset import ClipBatch
from distill.models.schedule import configure_optimization
from distill.nn.conv_codec import grid_shape
from distill.nn.spectral_loss import MultiScaleMelLoss
from distill.nn.vqvae import RVQVAE

log = logging.getLogger(__name__)


class VQVAEModule(L.LightningModule):
    """Trains the RVQ-VAE on mel crops: multi-scale mel L1 + summed commitment loss (no KL term).

    Returns the step's codes to the callbacks (codebook health, previews) instead of logging
    media itself. A step whose loss is NaN/Inf is skipped with a warning and counted.
    """

    def __init__(
        self,
        *,
        net: RVQVAE,
        loss: MultiScaleMelLoss,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None,
        kmeans_cells_per_code: int,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.kmeans_cells_per_code = kmeans_cells_per_code
        # A buffer, so the count survives checkpoints and resumes.
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long))

    @property
    def codebook_size(self) -> int:
        return self.net.quantizer.codebook_size

    @property
    def num_levels(self) -> int:
        return self.net.quantizer.num_levels

    def on_train_start(self) -> None:
        if not self.net.quantizer.initted:
            self._kmeans_init()

    @torch.no_grad()
    def _kmeans_init(self) -> None:
        """Initialise every codebook by k-means on many cells at once, not on one small batch.

        The library inits on the first forward's cells and samples centroids with replacement
        when there are fewer cells than codes; gathering kmeans_cells_per_code x K cells first
        gives every code a distinct, representative start.
        """
        wanted = self.kmeans_cells_per_code * self.codebook_size
        mels, cells = [], 0
        loader = self.trainer.datamodule.train_dataloader()
        while cells < wanted:
            for batch in loader:
                mel = batch.mel.to(self.device)
                mels.append(mel)
                rows, columns = grid_shape(mel.shape[1], mel.shape[2])
                cells += mel.shape[0] * rows * columns
                if cells >= wanted:
                    break
        self.net.train()
        self.net(torch.cat(mels))
        log.info(
            "k-means initialised %d codebooks of %d codes on %d cells",
            self.num_levels,
            self.codebook_size,
            cells,
        )

    def _skip(self, reason: str) -> None:
        self.skipped_steps += 1
        log.warning("Step %d: %s; skipping this step", self.global_step, reason)
        if self._trainer is not None:
            self.log("train/skipped_steps", self.skipped_steps.float())

    def training_step(self, batch: ClipBatch, batch_idx: int) -> dict | None:
        # Checked before the forward pass: a train-mode forward updates the EMA codebooks, and
        # one non-finite input would poison them for good.
        if not torch.isfinite(batch.mel).all():
            self._skip("non-finite values in the input mel")
            return None  # Lightning skips backward and the optimizer step
        out = self.net(batch.mel)
        spectral = self.loss(out.recon, batch.mel, batch.frame_mask)
        total = spectral + out.commit_loss
        if not torch.isfinite(total):
            self._skip(f"non-finite loss ({float(total)})")
            return None
        self.log_dict(
            {"train/loss": total, "train/spectral": spectral, "train/commit": out.commit_loss},
            prog_bar=True,
            batch_size=len(batch),
        )
        return {"loss": total, "codes": out.codes.detach()}

    def validation_step(self, batch: ClipBatch, batch_idx: int) -> dict:
        out = self.net(batch.mel)
        spectral = self.loss(out.recon, batch.mel, batch.frame_mask)
        mask = batch.frame_mask[:, None, :].expand_as(batch.mel)
        mel_l1 = F.l1_loss(out.recon[mask], batch.mel[mask])
        self.log_dict(
            {
                "val/loss": spectral + out.commit_loss,
                "val/spectral": spectral,
                "val/commit": out.commit_loss,
                "val/mel_l1": mel_l1,
            },
            prog_bar=True,
            batch_size=len(batch),
        )
        return {"codes": out.codes, "frame_mask": batch.frame_mask}

    def configure_optimizers(self):
        # A scheduler other than the budget's (e.g. in an older run's config) steps per epoch, as it always did.
        return configure_optimization(
            self, self.optimizer_factory, self.scheduler_factory, interval="epoch", name="lr/vqvae"
        )
