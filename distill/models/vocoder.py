"""VocoderModule: the thin Lightning wrapper that trains any generator of the vocoder family."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import lightning as L
import torch

from distill.audio.mel import MelConfig
from distill.data.dataset import ClipBatch
from distill.nn.discriminators import DiscriminatorSet
from distill.nn.gan_losses import (
    MultiResolutionSTFTDistance,
    PhaseLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from distill.nn.mel_generator import MelGenerator
from distill.nn.vqvae import TEXTURE_FIELD_FRAMES
from distill.vocoders.quality import RenderScore, score_rendering


class VocoderModule(L.LightningModule):
    """GAN vocoder training as in HiFi-GAN (Kong et al. 2020) and Vocos (Siuzdak 2023): LSGAN
    against a set of discriminators, feature matching, mel L1, plus the multi-resolution STFT
    distance to the real audio (Yamamoto et al. 2020) and, weighted in, anti-wrapped phase losses
    against the real audio's phase (APNet, Ai & Ling 2023).

    Manual optimization. The first ``regression_steps`` generator updates use the regression losses
    alone (no discriminator runs: ~20x cheaper on a CPU); after that each step first updates the
    discriminators on real vs (detached) generated segments, then the generator against the
    updated discriminators, the paper's alternation. Loss weights come from YAML.

    vqvae: a trained RVQ-VAE run; the generator then renders that RVQ-VAE's reconstruction of each
    crop's mel (frozen, eval mode) while every loss still compares with the real recording.
    """

    def __init__(
        self,
        *,
        generator: MelGenerator,
        discriminator: DiscriminatorSet,
        stft_distance: MultiResolutionSTFTDistance,
        phase_loss: PhaseLoss,
        loss_weights: Mapping[str, float],
        regression_steps: int,
        generator_optimizer: Callable[..., torch.optim.Optimizer],
        discriminator_optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler],
        vqvae: str | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.stft_distance = stft_distance
        self.phase_loss = phase_loss
        self.adversarial_weight = float(loss_weights["adversarial"])
        self.feature_weight = float(loss_weights["feature_matching"])
        self.mel_weight = float(loss_weights["mel"])
        self.stft_weight = float(loss_weights["stft"])
        self.phase_weight = float(loss_weights["phase"])
        self.regression_steps = int(regression_steps)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.scheduler = scheduler
        self.mel_config = MelConfig()
        self.vqvae = None
        if vqvae is not None:
            from distill.models.loading import load_vqvae_net

            self.vqvae = load_vqvae_net(vqvae).requires_grad_(False)
        # Generator updates so far (Lightning's global_step counts every optimizer's steps).
        self.register_buffer("generator_updates", torch.zeros((), dtype=torch.long))

    @property
    def ranks_checkpoints(self) -> bool:
        """Whether validation picks the run's best checkpoint (``BestCheckpoint``): not on an
        RVQ-VAE's reconstructions. There val/loss compares what the codes left of a recording with
        the recording itself, a distance the codes set and the vocoder hardly moves (0.97-1.00
        through a whole run on piano notes): ranked by it, a piano run stood for its checkpoint
        after 104 of 1,526 steps. Such a run stands for its last checkpoint."""
        return self.vqvae is None

    def train(self, mode: bool = True) -> VocoderModule:
        super().train(mode)
        if self.vqvae is not None:
            self.vqvae.eval()  # a train-mode forward would move its codebooks
        return self

    def generator_input(self, mel: torch.Tensor) -> torch.Tensor:
        """What the generator renders from: the mel itself, or the frozen RVQ-VAE's reconstruction as
        its codes render it, texture drawn at a random place of its noise field in each training
        step (and at its start in validation, so the validation score does not vary by chance)."""
        if self.vqvae is None:
            return mel
        start = int(torch.randint(TEXTURE_FIELD_FRAMES, ())) if self.training else 0
        return self.vqvae.reconstruct(mel, start_frame=start)

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
        """One training step (see the class docstring); returns the namespaced losses.

        mel: [B, n_mels, F] of ``real``: [B, 1, F * hop]. ``backward`` is ``manual_backward`` under
        a Trainer and ``Tensor.backward`` in the benchmarks, which time and run this very step.
        """
        fake = self.generator(self.generator_input(mel))  # [B, 1, F * hop]
        losses: dict[str, torch.Tensor] = {}
        adversarial_phase = int(self.generator_updates) >= self.regression_steps
        if adversarial_phase:
            # Discriminators: real -> 1, generated -> 0.
            loss_d = discriminator_loss(
                self.discriminator(real).logits, self.discriminator(fake.detach()).logits
            ).total
            opt_d.zero_grad(set_to_none=True)
            backward(loss_d)
            opt_d.step()
            losses["train/discriminator"] = loss_d

        mel_l1 = mel_l1_loss(fake, mel, self.mel_config)
        stft = self.stft_distance(fake, real).total
        loss_g = self.mel_weight * mel_l1 + self.stft_weight * stft
        if self.phase_weight > 0:
            phase = self.phase_loss(fake, real)
            loss_g = loss_g + self.phase_weight * phase
            losses["train/phase"] = phase
        if adversarial_phase:
            # The generator is judged by the discriminators as they are after their update.
            with torch.no_grad():  # real features are only targets for feature matching
                judged_real = self.discriminator(real)
            judged_fake = self.discriminator(fake)
            adversarial = generator_adversarial_loss(judged_fake.logits)
            features = feature_matching_loss(judged_real.features, judged_fake.features)
            loss_g = loss_g + self.adversarial_weight * adversarial + self.feature_weight * features
            losses.update({"train/adversarial": adversarial, "train/feature_matching": features})
        opt_g.zero_grad(set_to_none=True)
        backward(loss_g)
        opt_g.step()
        self.generator_updates += 1
        losses.update({"train/loss": loss_g, "train/mel_l1": mel_l1, "train/mstft": stft})
        return losses

    def on_train_epoch_end(self) -> None:
        for scheduler in self.lr_schedulers():
            scheduler.step()

    def on_validation_epoch_start(self) -> None:
        self._val_file: int | None = None  # the file whose tiles are being gathered
        self._val_pieces: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def validation_step(self, batch: ClipBatch, batch_idx: int) -> None:
        # Each tile is rendered on its own, trimmed to its real frames, and every file is scored
        # whole against its real recording once its last tile is in (tiles come in order, one file
        # after another; set data.val_crop_frames to cover whole files): how a file is cut into
        # tiles, e.g. a tile of nothing but its quiet tail, must not weigh on the score.
        hop = self.mel_config.hop_length
        scores = []
        for mel, audio, mask, file_index in zip(
            batch.mel, batch.audio, batch.frame_mask, batch.file_index.tolist(), strict=True
        ):
            if self._val_pieces and file_index != self._val_file:
                scores.append(self._score_file())
            frames = int(mask.sum())
            target = mel[None, :, :frames]
            fake = self.generator(self.generator_input(target))  # [1, 1, frames * hop]
            self._val_file = file_index
            self._val_pieces.append((fake, audio[None, :, : frames * hop], target))
        batches = (
            self.trainer.num_sanity_val_batches
            if self.trainer.sanity_checking
            else self.trainer.num_val_batches
        )
        if batch_idx == batches[0] - 1:
            scores.append(self._score_file())
        if not scores:  # a long file still being gathered
            return
        mstft = torch.stack([s.mstft for s in scores]).mean()
        self.log_dict(
            {
                # The best checkpoint is the one closest to the real recordings (M-STFT), not the
                # one whose audio best re-analyses to its own input mel.
                "val/loss": mstft,
                "val/mel_l1": torch.stack([s.mel_l1 for s in scores]).mean(),
                "val/mstft": mstft,
                "val/spectral_convergence": torch.stack([s.spectral_convergence for s in scores]).mean(),
            },
            prog_bar=True,
            batch_size=len(scores),  # the epoch's numbers are means over files
        )

    def _score_file(self) -> RenderScore:
        fake, real, mel = (torch.cat(parts, dim=-1) for parts in zip(*self._val_pieces, strict=True))
        self._val_pieces = []
        return score_rendering(fake, real, mel, mel_config=self.mel_config, stft_distance=self.stft_distance)

    def configure_optimizers(self):
        opt_g = self.generator_optimizer(params=self.generator.parameters())
        opt_d = self.discriminator_optimizer(params=self.discriminator.parameters())
        # Named, so LearningRateMonitor logs lr/generator and lr/discriminator (by default both
        # would be lr-AdamW and lr-AdamW-1, telling nobody which is which).
        schedulers = [
            {"scheduler": self.scheduler(optimizer=opt_g), "name": "lr/generator"},
            {"scheduler": self.scheduler(optimizer=opt_d), "name": "lr/discriminator"},
        ]
        return [opt_g, opt_d], schedulers
