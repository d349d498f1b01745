"""After the prior trains: does it make new material, or replay its training files?"""

from __future__ import annotations

import copy
import logging
import statistics
from dataclasses import dataclass

import lightning as L
import torch

from distill.codes.memorization import MemorizationReport, memorization_report
from distill.codes.sampling import sample_batch
from distill.nn.prior import TokenPrior

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class MemorizationSettings:
    """How the check samples and judges; the defaults live in model_setup/prior.yaml."""

    num_samples: int
    window: int  # columns per verbatim window
    temperature: float
    top_k: int
    top_p: float
    seed: int
    ratio_threshold: float
    min_share: float
    similarity_ratio_threshold: float


def default_settings(**overrides) -> MemorizationSettings:
    """The settings of the prior's setup (``model_setup/prior.yaml``, the single source of the
    defaults), with any non-None ``overrides``: how on-demand checks run the training-time check."""
    from omegaconf import OmegaConf

    from distill.config import load_option

    node = load_option("model_setup", "prior").callbacks.memorization.settings
    values = {key: value for key, value in OmegaConf.to_container(node).items() if key != "_target_"}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return MemorizationSettings(**values)


def check_memorization(
    prior: TokenPrior,
    *,
    training: list[torch.Tensor],
    heldout: list[torch.Tensor],
    settings: MemorizationSettings,
) -> MemorizationReport:
    """Sample ``num_samples`` grids as long as a typical training file and compare their verbatim
    overlap with the training grids against the held-out grids' overlap (the baseline).

    training / heldout: each recording's own code grid [Q, R, C] (no silence padding, which every
    grid would share). Usable on demand from a notebook with a trained prior and its data.
    """
    typical = int(statistics.median(grid.shape[-1] for grid in training))
    n_columns = max(typical, settings.window + 1)
    generated = sample_batch(
        prior,
        batch_size=settings.num_samples,
        n_columns=n_columns,
        temperature=settings.temperature,
        top_k=settings.top_k,
        top_p=settings.top_p,
        seed=settings.seed,
        file_start=True,  # as generation samples: new sounds from their start
    )
    return memorization_report(
        generated=list(generated.cpu()),
        training=training,
        heldout=heldout,
        window=settings.window,
        ratio_threshold=settings.ratio_threshold,
        min_share=settings.min_share,
        similarity_ratio_threshold=settings.similarity_ratio_threshold,
    )


class MemorizationCheck(L.Callback):
    """Runs :func:`check_memorization` when training ends, on the best checkpoint by validation
    loss (what packaging bundles) and on the final weights; the reports go to the run summary as
    ``memorization`` and ``memorization_last`` (the first into the model file) and to the loggers
    as ``memorization/*``. A prior trained on past its best usually memorizes: the pair shows it.

    Needs a datamodule with ``train_codes`` / ``val_codes`` (:class:`CodeGridDataModule`) and a
    module with ``net`` (the :class:`TokenPrior`).
    """

    def __init__(self, *, settings: MemorizationSettings) -> None:
        self.settings = settings
        self.report: MemorizationReport | None = None
        self.last_report: MemorizationReport | None = None

    def _check(self, trainer: L.Trainer, prior: TokenPrior) -> MemorizationReport:
        return check_memorization(
            prior,
            training=[codes.own for codes in trainer.datamodule.train_codes],
            heldout=[codes.own for codes in trainer.datamodule.val_codes],
            settings=self.settings,
        )

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        self.last_report = self._check(trainer, pl_module.net)
        self.report = self.last_report
        best_path = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best_path:
            state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
            best = copy.deepcopy(pl_module.net)
            best.load_state_dict(
                {key[len("net.") :]: value for key, value in state.items() if key.startswith("net.")}
            )
            self.report = self._check(trainer, best)
        numbers = {
            f"memorization/{key}": float(value)
            for key, value in self.report.to_dict().items()
            if isinstance(value, int | float) and value is not None
        }
        for logger in trainer.loggers:
            logger.log_metrics(numbers, step=trainer.global_step)
            logger.save()  # fit has ended: nothing else flushes the loggers after this
        for report, weights in ((self.report, "best checkpoint"), (self.last_report, "final weights")):
            self._tell(report, weights)

    @staticmethod
    def _tell(report: MemorizationReport, weights: str) -> None:
        if report.flagged:
            log.warning(
                "Memorization (%s): generated code grids share %.0f%% of their %d-column windows verbatim with "
                "the training files (held-out files: %s) and match their nearest training window %.0f%% "
                "code for code (held-out files: %s); the prior may be copying its training set. Package "
                "its best checkpoint (the default), train shorter, or with more dropout.",
                weights,
                100 * report.generated_share_mean,
                report.window,
                _percent(report.heldout_share_mean),
                100 * report.generated_similarity_mean,
                _percent(report.heldout_similarity_mean),
            )
        else:
            log.info("Memorization check passed (%s): %s", weights, report.to_dict())

    def summary_section(self) -> dict:
        return {
            "memorization": None if self.report is None else self.report.to_dict(),
            "memorization_last": None if self.last_report is None else self.last_report.to_dict(),
        }


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
