"""VQVAEModule: the thin Lightning wrapper that trains ``distill.nn.vqvae.RVQVAE``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from distill.data.dataset import ClipBatch
from distill.models.schedule import budget_progress, configure_optimization
from distill.nn.conv_codec import grid_shape
from distill.nn.gan_losses import (
    adaptive_adversarial_weight,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
)
from distill.nn.pitch_head import pitch_loss
from distill.nn.spectral_loss import MultiScaleMelLoss, texture_nll
from distill.nn.vqvae import RVQVAE

log = logging.getLogger(__name__)


class VQVAEModule(L.LightningModule):
    """Trains the RVQ-VAE on mel crops: multi-scale mel L1 + summed commitment loss (no KL term)
    (+ the texture head's NLL, + ``pitch_weight`` x the pitch head's loss when it has them),
    and with a ``mel_discriminator`` adversarially as VQGAN (Esser et al. 2021) / SpecVQGAN
    (Iashin & Rahtu 2021) do: after a reconstruction warm-up (the first ``adversarial.start`` share
    of the run's budget), each step updates the discriminator on real vs reconstructed mels (hinge
    loss), then the RVQ-VAE on reconstruction + ``adversarial.weight`` x the adaptive weight x
    (hinge generator loss + ``adversarial.feature_matching`` x feature matching).

    Without a discriminator (``model/mel_discriminator=none``) it is Lightning's automatic
    optimization of the reconstruction alone, as before adversarial training existed; with one,
    manual optimization of the two optimizers. Returns the step's codes to the callbacks (codebook
    health, previews) instead of logging media itself. A step whose loss is NaN/Inf is skipped
    with a warning and counted.
    """

    def __init__(
        self,
        *,
        net: RVQVAE,
        loss: MultiScaleMelLoss,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None,
        kmeans_cells_per_code: int,
        mel_discriminator: nn.Module | Mapping | None = None,
        adversarial: Mapping[str, float] | None = None,
        discriminator_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        pitch_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.kmeans_cells_per_code = kmeans_cells_per_code
        self.pitch_weight = pitch_weight
        if isinstance(mel_discriminator, Mapping):  # model/mel_discriminator=none composes to {}
            if mel_discriminator:
                raise ValueError(f"mel_discriminator has no _target_: {dict(mel_discriminator)}")
            mel_discriminator = None
        self.mel_discriminator = mel_discriminator
        self.automatic_optimization = mel_discriminator is None
        if mel_discriminator is not None:
            if adversarial is None or discriminator_optimizer is None:
                raise ValueError(
                    "a mel_discriminator needs the adversarial settings and a discriminator_optimizer"
                )
            self.adversarial_start = float(adversarial["start"])
            self.adversarial_weight = float(adversarial["weight"])
            self.feature_matching_weight = float(adversarial["feature_matching"])
            self.max_adaptive_weight = float(adversarial["max_adaptive_weight"])
        self.discriminator_optimizer = discriminator_optimizer
        self._scheduler_interval = "epoch"
        # Buffers, so the counts survive checkpoints and resumes. The adversarial count only with a
        # discriminator: a run trained on reconstruction alone (an older one too) loads as it was saved.
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long))
        if mel_discriminator is not None:
            self.register_buffer("adversarial_steps", torch.zeros((), dtype=torch.long))

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
                rows, columns = grid_shape(mel.shape[1], mel.shape[2], self.net.encoder.bands_per_row)
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

    @property
    def adversarial_phase(self) -> bool:
        """Whether the discriminator trains and judges this step: once the warm-up share of the
        budget is spent (never without a discriminator); once begun, it stays on (a resumed run too)."""
        if self.mel_discriminator is None:
            return False
        return int(self.adversarial_steps) > 0 or budget_progress(self.trainer) >= self.adversarial_start

    @property
    def ranks_checkpoints(self) -> bool:
        """Whether validation may pick the run's best checkpoint now (``BestCheckpoint``): not during
        the warm-up of an adversarial run, whose smoother reconstructions score a lower L1 than the
        sharper ones the run is for."""
        return self.mel_discriminator is None or int(self.adversarial_steps) > 0

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
        losses = {"train/spectral": spectral, "train/commit": out.commit_loss}
        if out.recon_log_scale is not None:  # the texture head learns the spread the mean leaves
            losses["train/texture_nll"] = texture_nll(
                out.recon, out.recon_log_scale, batch.mel, batch.frame_mask
            )
            total = total + losses["train/texture_nll"]
        if out.pitch is not None:  # the pitch head learns the tracked pitch from the codes
            losses["train/pitch"] = pitch_loss(out.pitch, out.pitch_target, batch.frame_mask)
            total = total + self.pitch_weight * losses["train/pitch"]
        if not self.automatic_optimization:
            total = self._manual_step(batch.mel, out.recon, spectral, total, losses)
        losses["train/loss"] = total
        self.log_dict(losses, prog_bar=True, batch_size=len(batch))
        return {"loss": total, "codes": out.codes.detach()}

    def _manual_step(
        self,
        real: torch.Tensor,
        recon: torch.Tensor,
        spectral: torch.Tensor,
        total: torch.Tensor,
        losses: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Both optimizer steps of an adversarial run; returns the RVQ-VAE's loss."""
        opt, opt_d = self.optimizers()
        if self.adversarial_phase:
            discriminator = self.mel_discriminator
            # Discriminator: real mels -> +1 side of the margin, reconstructions -> -1 side.
            loss_d = hinge_discriminator_loss(
                discriminator(real).logits, discriminator(recon.detach()).logits
            )
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()
            # RVQ-VAE, judged by the discriminator as it is after its update (its own weights frozen:
            # this backward needs no gradient for them).
            discriminator.requires_grad_(False)
            try:
                with torch.no_grad():  # real features are only targets for feature matching
                    judged_real = discriminator(real)
                judged_fake = discriminator(recon)
                adversarial = hinge_generator_loss(judged_fake.logits)
                features = feature_matching_loss(judged_real.features, judged_fake.features)
                gan = adversarial + self.feature_matching_weight * features
                factor = adaptive_adversarial_weight(
                    spectral, gan, self.net.decoder.last_layer, max_weight=self.max_adaptive_weight
                )
                total = total + self.adversarial_weight * factor * gan
            finally:
                discriminator.requires_grad_(True)
            self.adversarial_steps += 1
            losses.update(
                {
                    "train/discriminator": loss_d,
                    "train/adversarial": adversarial,
                    "train/feature_matching": features,
                    "train/adaptive_weight": factor,
                }
            )
        opt.zero_grad(set_to_none=True)
        self.manual_backward(total)
        opt.step()
        if self._scheduler_interval == "step":
            self.lr_schedulers().step()
        return total

    def on_train_epoch_end(self) -> None:
        if not self.automatic_optimization and self._scheduler_interval == "epoch":
            self.lr_schedulers().step()

    def validation_step(self, batch: ClipBatch, batch_idx: int) -> dict:
        out = self.net(batch.mel)
        spectral = self.loss(out.recon, batch.mel, batch.frame_mask)
        mask = batch.frame_mask[:, None, :].expand_as(batch.mel)
        mel_l1 = F.l1_loss(out.recon[mask], batch.mel[mask])
        metrics = {
            "val/loss": spectral + out.commit_loss,
            "val/spectral": spectral,
            "val/commit": out.commit_loss,
            "val/mel_l1": mel_l1,
        }
        if out.recon_log_scale is not None:  # not in val/loss: checkpoints are still ranked by the mean
            metrics["val/texture_nll"] = texture_nll(
                out.recon, out.recon_log_scale, batch.mel, batch.frame_mask
            )
        if out.pitch is not None:
            metrics["val/pitch"] = pitch_loss(out.pitch, out.pitch_target, batch.frame_mask)
        self.log_dict(metrics, prog_bar=True, batch_size=len(batch))
        return {"codes": out.codes, "frame_mask": batch.frame_mask}

    def configure_optimizers(self):
        # A scheduler other than the budget's (e.g. in an older run's config) steps per epoch, as it always did.
        config = configure_optimization(
            self,
            self.optimizer_factory,
            self.scheduler_factory,
            interval="epoch",
            name="lr/vqvae",
            params=self.net.parameters(),
        )
        if self.mel_discriminator is None:
            return config
        self._scheduler_interval = config["lr_scheduler"]["interval"]
        opt_d = self.discriminator_optimizer(params=self.mel_discriminator.parameters())
        return [config["optimizer"], opt_d], [config["lr_scheduler"]]
