"""The report's training figures, logged to W&B when a run ends, so dashboard and report agree."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


class ReportFiguresToWandb(L.Callback):
    """With a ``WandbLogger``: at the end of fit, the figures ``distill report --run`` draws for
    this run (losses, codebook health, per-level NLL, memorization) as ``report/<name>`` images;
    does nothing without one.

    Runs in ``teardown``, after every ``on_fit_end`` (the memorization check runs there) and
    before the loggers are finalized. Reads the run's CSV logs, flushed first, like the report
    does; a run logging to W&B alone falls back to the per-epoch rows of its loss history.
    """

    def __init__(self, *, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    @rank_zero_only
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        from lightning.pytorch.loggers import CSVLogger, WandbLogger

        wandb_loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if stage != "fit" or not wandb_loggers or trainer.interrupted:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()  # the last rows may still be buffered
        images = self.figures(trainer)
        if not images:
            return
        import wandb
        from PIL import Image

        media = {f"report/{name}": wandb.Image(Image.open(io.BytesIO(png))) for name, png in images.items()}
        for logger in wandb_loggers:
            logger.experiment.log(media)
        log.info("Logged the report's figures to W&B: %s", ", ".join(sorted(media)))

    def figures(self, trainer: L.Trainer) -> dict[str, bytes]:
        """The report's training figures for this run, by name, as PNG bytes."""
        from omegaconf import OmegaConf

        from distill.report.data import run_training
        from distill.report.figures import training_figures
        from distill.runs import read_run_config

        # What the run summary will hold, from the parts that will write it (its memorization
        # check, loss history); the summary itself is written only after fit returns.
        sections: dict = {}
        for part in (trainer.datamodule, *trainer.callbacks):
            if hasattr(part, "summary_section"):
                sections.update(part.summary_section())
        config = OmegaConf.to_container(read_run_config(self.run_dir), resolve=False)
        training = run_training(self.run_dir, config, sections.get("loss_history") or [])
        return training_figures([training], sections.get("memorization"), sections.get("memorization_last"))
