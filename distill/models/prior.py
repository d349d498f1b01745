"""PriorModule: the thin Lightning wrapper that trains ``distill.nn.prior.TokenPrior`` on code windows."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import lightning as L
import torch

from distill.data.code_windows import CodeWindow
from distill.models.regularisation import InputNoiseByAudio
from distill.models.schedule import configure_optimization
from distill.nn.prior import TokenPrior

log = logging.getLogger(__name__)


class PriorModule(L.LightningModule):
    """Next-token cross-entropy over windows of the frozen VQ-VAE's code grids.

    Batches are :class:`~distill.data.codes.CodeWindow` s (token windows [B, T] and the file
    column each starts at) from :class:`distill.data.codes.CodeGridDataModule`. Validation
    NLL is accumulated over every held-out token and logged per RVQ level (``val/nll_level{i}``),
    because the mean hides the usual story: coarse level 0 is hard, residual levels are easier,
    and a level stuck near log(codebook size) learns nothing.
    """

    def __init__(
        self,
        *,
        net: TokenPrior,
        vqvae: str,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None,
        input_noise: float | InputNoiseByAudio = 0.0,
        control_dropout: float = 0.0,
        unconditioned_share: float = 0.0,
    ) -> None:
        """input_noise: share of the tokens the prior reads (not those it predicts) replaced by
        random codes in training: code-level noise, so a small collection's windows are not
        learned by heart as exact token strings (see model/prior.yaml); an ``InputNoiseByAudio``
        sizes it to the seconds of training audio when training starts (``setup``).
        control_dropout / unconditioned_share (a prior with controls): the chance that a training
        window's control is hidden, each on its own, and the share of windows with all of them
        hidden, so the prior learns to draw with any of them, or none, unasked."""
        super().__init__()
        self.input_noise_rule = input_noise if isinstance(input_noise, InputNoiseByAudio) else None
        if self.input_noise_rule is not None:
            input_noise = self.input_noise_rule.most  # until setup reads the training audio
        for name, value in (
            ("input_noise", input_noise),
            ("control_dropout", control_dropout),
            ("unconditioned_share", unconditioned_share),
        ):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.input_noise = input_noise
        self.control_dropout = control_dropout
        self.unconditioned_share = unconditioned_share
        self.net = net
        self.vqvae_source = vqvae  # the run whose codes this prior models (recorded in the config)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        levels = net.layout.levels
        self._val_sums = torch.zeros(levels, dtype=torch.float64)
        self._val_counts = torch.zeros(levels, dtype=torch.float64)

    def setup(self, stage: str) -> None:
        if self.input_noise_rule is None or stage != "fit":
            return
        seconds = getattr(self.trainer.datamodule, "train_seconds", None)
        if seconds is None:
            raise ValueError("input noise sized to the training audio needs a datamodule with train_seconds")
        self.input_noise = self.input_noise_rule.amount(seconds)
        log.info(
            "Input noise %.2f for %.0f s of training audio (model.input_noise)", self.input_noise, seconds
        )

    def on_train_epoch_start(self) -> None:
        self.log("train/input_noise", float(self.input_noise))

    def training_step(self, batch: CodeWindow, batch_idx: int) -> torch.Tensor:
        controls = self.hidden_at_random(batch.controls)
        out = self.net(
            self.noisy(batch.tokens),
            file_start=batch.file_start,
            controls=controls,
            elapsed=batch.start_column,
        )
        loss = out.nll(batch.tokens)
        self.log_dict(
            {"train/loss": loss, "train/perplexity": loss.detach().exp()},
            prog_bar=True,
            batch_size=batch.tokens.shape[0],
        )
        return loss

    def noisy(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] with ``input_noise`` of them, drawn at random, replaced by random codes."""
        if not self.input_noise:
            return tokens
        replace = torch.rand(tokens.shape, device=tokens.device) < self.input_noise
        random_codes = torch.randint_like(tokens, self.net.codebook_size)
        return torch.where(replace, random_codes, tokens)

    def hidden_at_random(self, controls: torch.Tensor) -> torch.Tensor | None:
        """controls [B, D] with some hidden (NaN) at random (see __init__); None for a batch without."""
        if not controls.shape[-1]:
            return None
        hide = torch.rand(controls.shape, device=controls.device) < self.control_dropout
        hide |= torch.rand(controls.shape[0], 1, device=controls.device) < self.unconditioned_share
        return controls.masked_fill(hide, float("nan"))

    def on_validation_epoch_start(self) -> None:
        self._val_sums.zero_()
        self._val_counts.zero_()

    def validation_step(self, batch: CodeWindow, batch_idx: int) -> None:
        tokens = batch.tokens
        controls = batch.controls if batch.controls.shape[-1] else None
        out = self.net(tokens, file_start=batch.file_start, controls=controls, elapsed=batch.start_column)
        per_level = out.nll_per_level(tokens).double().cpu()  # [Q] mean nats per token of each level
        counts = torch.bincount(out.level_ids.cpu(), minlength=out.levels).double() * tokens.shape[0]
        present = counts > 0
        self._val_sums[present] += per_level[present] * counts[present]
        self._val_counts += counts

    def on_validation_epoch_end(self) -> None:
        if not self._val_counts.sum():
            return
        # On the module's device: NCCL (DDP on GPUs) cannot gather CPU tensors.
        levels = len(self._val_sums)
        sums = self.all_gather(self._val_sums.to(self.device)).reshape(-1, levels).sum(0).cpu()
        counts = self.all_gather(self._val_counts.to(self.device)).reshape(-1, levels).sum(0).cpu()
        nll = float(sums.sum() / counts.sum())
        metrics = {"val/loss": nll, "val/perplexity": math.exp(nll)}
        for level, (level_sum, level_count) in enumerate(zip(sums, counts, strict=True)):
            if level_count:
                metrics[f"val/nll_level{level}"] = float(level_sum / level_count)
        # Already reduced over every rank's tokens above, so no sync_dist averaging of averages.
        self.log_dict(metrics)

    def configure_optimizers(self):
        return configure_optimization(
            self, self.optimizer_factory, self.scheduler_factory, interval="step", name="lr/prior"
        )
