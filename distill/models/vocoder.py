"""VocoderModule: the thin Lightning wrapper that trains the HiFi-GAN V2 generator adversarially."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import lightning as L
import torch
import torch.nn.functional as F

from distill.audio.mel import MelConfig, log_mel
from distill.data.dataset import ClipBatch
from distill.nn.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from distill.nn.gan_losses import (
    MultiResolutionSTFTDistance,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from distill.nn.hifigan import HifiGanGenerator

# The 2048-point STFT of the validation metric needs at least this many samples.
_MIN_VAL_SAMPLES = 2048


class VocoderModule(L.LightningModule):
    """HiFi-GAN training (Kong et al. 2020): LSGAN with MPD + MSD, feature matching, mel L1.

    Manual optimization: each step first updates the discriminators on real vs (detached)
    generated segments, then the generator against the updated discriminators, exactly the
    paper's alternation. Loss weights come from YAML (paper: 1 / 2 / 45).
    """

    def __init__(
        self,
        *,
        generator: HifiGanGenerator,
        discriminator: Mapping[str, MultiPeriodDiscriminator | MultiScaleDiscriminator],
        stft_distance: MultiResolutionSTFTDistance,
        loss_weights: Mapping[str, float],
        generator_optimizer: Callable[..., torch.optim.Optimizer],
        discriminator_optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler],
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        # The `model/discriminator` config group: {mpd: multi-period, msd: multi-scale}.
        self.mpd: MultiPeriodDiscriminator = discriminator["mpd"]
        self.msd: MultiScaleDiscriminator = discriminator["msd"]
        self.stft_distance = stft_distance
        self.adversarial_weight = float(loss_weights["adversarial"])
        self.feature_weight = float(loss_weights["feature_matching"])
        self.mel_weight = float(loss_weights["mel"])
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.scheduler = scheduler
        self.mel_config = MelConfig()

    def training_step(self, batch: ClipBatch, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        losses = self.adversarial_step(batch.mel, batch.audio, opt_g, opt_d, backward=self.manual_backward)
        self.log_dict(losses, prog_bar=True, batch_size=len(batch))

    def adversarial_step(
        self,
        mel: torch.Tensor,
        real: torch.Tensor,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        *,
        backward: Callable[[torch.Tensor], None],
    ) -> dict[str, torch.Tensor]:
        """One discriminator update, then one generator update; returns the namespaced losses.

        mel: [B, n_mels, F]; real: [B, 1, F * hop]. ``backward`` is ``manual_backward`` under a
        Trainer and ``Tensor.backward`` in the benchmark, which times this very step.
        """
        fake = self.generator(mel)  # [B, 1, F * hop]

        # Discriminators: real -> 1, generated -> 0.
        d_mpd = discriminator_loss(self.mpd(real).logits, self.mpd(fake.detach()).logits)
        d_msd = discriminator_loss(self.msd(real).logits, self.msd(fake.detach()).logits)
        loss_d = d_mpd.total + d_msd.total
        opt_d.zero_grad(set_to_none=True)
        backward(loss_d)
        opt_d.step()

        # Generator, judged by the discriminators as they are after their update.
        with torch.no_grad():  # real features are only targets for feature matching: no graph needed
            mpd_real, msd_real = self.mpd(real), self.msd(real)
        mpd_fake, msd_fake = self.mpd(fake), self.msd(fake)
        adversarial = generator_adversarial_loss(mpd_fake.logits) + generator_adversarial_loss(
            msd_fake.logits
        )
        features = feature_matching_loss(mpd_real.features, mpd_fake.features) + feature_matching_loss(
            msd_real.features, msd_fake.features
        )
        mel_l1 = mel_l1_loss(fake, mel, self.mel_config)
        loss_g = (
            self.adversarial_weight * adversarial + self.feature_weight * features + self.mel_weight * mel_l1
        )
        opt_g.zero_grad(set_to_none=True)
        backward(loss_g)
        opt_g.step()
        return {
            "train/loss": loss_g,
            "train/discriminator": loss_d,
            "train/adversarial": adversarial,
            "train/feature_matching": features,
            "train/mel_l1": mel_l1,
        }

    def on_train_epoch_end(self) -> None:
        for scheduler in self.lr_schedulers():
            scheduler.step()

    def validation_step(self, batch: ClipBatch, batch_idx: int) -> None:
        # Each item is rendered on its own, trimmed to its real frames (validation tiles are long;
        # set data.val_crop_frames to cover whole files).
        hop = self.mel_config.hop_length
        mel_errors, stft_totals, convergences = [], [], []
        for mel, audio, mask in zip(batch.mel, batch.audio, batch.frame_mask, strict=True):
            frames = int(mask.sum())
            fake = self.generator(mel[None, :, :frames])  # [1, 1, frames * hop]
            real = audio[None, :, : frames * hop]
            mel_errors.append(F.l1_loss(log_mel(fake, self.mel_config), mel[None, :, :frames]))
            pad = max(0, _MIN_VAL_SAMPLES - real.shape[-1])
            distance = self.stft_distance(F.pad(fake, (0, pad)), F.pad(real, (0, pad)))
            stft_totals.append(distance.total)
            convergences.append(distance.spectral_convergence)
        mel_l1 = torch.stack(mel_errors).mean()
        self.log_dict(
            {
                "val/loss": mel_l1,
                "val/mel_l1": mel_l1,
                "val/mstft": torch.stack(stft_totals).mean(),
                "val/spectral_convergence": torch.stack(convergences).mean(),
            },
            prog_bar=True,
            batch_size=len(batch),
        )

    def configure_optimizers(self):
        discriminator_params = [*self.mpd.parameters(), *self.msd.parameters()]
        opt_g = self.generator_optimizer(params=self.generator.parameters())
        opt_d = self.discriminator_optimizer(params=discriminator_params)
        return [opt_g, opt_d], [self.scheduler(optimizer=opt_g), self.scheduler(optimizer=opt_d)]
