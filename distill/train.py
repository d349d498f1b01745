"""``train(cfg)``: one function runs any model (the ``model`` config group decides which).

Called by ``train.py`` (Hydra) and directly by the tests with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

from distill.config import resolvers
from distill.config.schema import check_settings
from distill.console import tidy_training_console
from distill.data.tiers import resolve_auto_tier
from distill.errors import UserError
from distill.evaluation.run_quality import RunQuality, check_quality_settings, measure_at_run_end
from distill.runs import (
    RunSummary,
    best_score,
    check_resumable,
    checkpoint_paths,
    resolve_resume,
    write_run_config,
)

log = logging.getLogger(__name__)


resolvers.register()


def instantiate_callbacks(callbacks_cfg: DictConfig | None) -> list[L.Callback]:
    """Build every entry of the ``callbacks`` group (entries set to null are dropped)."""
    built = []
    for name, entry in (callbacks_cfg or {}).items():
        if entry is None:
            continue
        if "_target_" not in entry:
            raise ValueError(f"callbacks.{name} has no _target_")
        built.append(hydra.utils.instantiate(entry))
    return built


def instantiate_loggers(logger_cfg: DictConfig | None) -> list:
    return [hydra.utils.instantiate(entry) for entry in (logger_cfg or {}).values() if entry is not None]


def _finish_wandb() -> None:
    import sys

    if "wandb" in sys.modules:  # only if a logger actually imported it
        import wandb

        if wandb.run is not None:
            wandb.finish()


def check_required_settings(cfg: DictConfig) -> None:
    """Required settings (``???``) and settings read from other runs, each problem in one sentence.

    Interpolations that cannot resolve yet (``data.tier`` before the auto tier is picked) are left
    for later; only a resolver's own UserError (e.g. run_setting on a folder that is no run) counts.
    """

    def visit(node: DictConfig, prefix: str) -> None:
        for key in node:
            name = f"{prefix}{key}"
            if OmegaConf.is_missing(node, key):
                raise UserError(f"{name} is not set: add {name}=<value> to the command.")
            try:
                value = node[key]
            except InterpolationResolutionError as error:
                first_line = str(error).splitlines()[0]
                if first_line.startswith(f"{UserError.__name__} raised"):
                    raise UserError(first_line.split("while resolving interpolation: ", 1)[1]) from None
                continue
            if isinstance(value, DictConfig):
                visit(value, f"{name}.")

    visit(cfg, "")


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train the configured model on the configured data; return (final metrics, built objects)."""
    tidy_training_console()
    check_required_settings(cfg if cfg.package else _without(cfg, "package_components"))
    check_settings(cfg)
    check_quality_settings(cfg)
    if cfg.seed is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    ckpt_path = resolve_resume(cfg)

    datamodule = hydra.utils.instantiate(cfg.data)
    report = datamodule.scan()
    datamodule.tier_name = resolve_auto_tier(cfg, len(report.usable))
    output_dir = Path(cfg.paths.output_dir)
    model = hydra.utils.instantiate(cfg.model)
    if ckpt_path is not None:
        check_resumable(model, ckpt_path, output_dir, cfg)
    if rank_zero_only.rank == 0:
        # The resolved config (real tier values) beside the checkpoints: what packaging rebuilds from.
        write_run_config(output_dir, cfg)

    callbacks = instantiate_callbacks(cfg.callbacks)
    loggers = instantiate_loggers(cfg.logger)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics, summary = _summarise(cfg, trainer, datamodule, callbacks)
        if trainer.is_global_zero:
            summary.write(output_dir)
            # After the summary: the measurement packages the run as distill package would.
            quality = measure_at_run_end(cfg, on_progress=lambda message: log.info("Quality: %s", message))
            if quality is not None:
                summary.quality = quality.as_dict()
                metrics.update(quality.metrics())
                _log_metrics(loggers, quality.metrics(), trainer.global_step)
                summary.write(output_dir)
            if cfg.package:  # reads the summary just written, then records where the model went
                summary.packaged = str(_package(cfg, output_dir))
                summary.write(output_dir)
            for line in run_end_lines(cfg, output_dir, summary, quality):
                log.info(line)
    finally:
        _finish_wandb()
    return metrics, {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "trainer": trainer,
        "summary": summary,
    }


def _summarise(
    cfg: DictConfig, trainer: L.Trainer, datamodule, callbacks
) -> tuple[dict[str, float], RunSummary]:
    """The run's final metrics and its summary (``summary.json``), from the trainer and its parts."""
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    sections = {
        "model": cfg.model._target_,
        "tier": datamodule.tier_name,
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,
        "final_metrics": dict(metrics),
        "dataset": datamodule.summary(),
        "checkpoints": checkpoint_paths(trainer),
        "best_score": best_score(trainer),
    }
    # Parts with something to say about the run (health tables, warnings, loss history, which
    # VQ-VAE made a prior's codes) add a section.
    for part in (datamodule, *callbacks):
        if hasattr(part, "summary_section"):
            sections.update(part.summary_section())
    return metrics, RunSummary.from_dict(sections)


def _log_metrics(loggers: list, metrics: dict[str, float], step: int) -> None:
    """Numbers measured after fit, to the loggers fit used (W&B's run is still open here)."""
    for logger in loggers:
        logger.log_metrics(metrics, step=step)
        logger.save()


def run_end_lines(
    cfg: DictConfig, output_dir: Path, summary: RunSummary, quality: RunQuality | None = None
) -> list[str]:
    """Where the run is, which weights it stands for, how good it is, and what to run with it next."""
    best = summary.best_checkpoint(output_dir)
    lines = [f"Run folder: {output_dir}"]
    if best is not None:
        lines.append(
            f"Best checkpoint: {best}"
            + (f" (val/loss {summary.best_score:.4g})" if summary.best_score is not None else "")
        )
    else:
        lines.append(
            "No best checkpoint (no validation, or none yet in the phase the run is for); the run stands"
            f" for {output_dir / 'checkpoints' / 'last.ckpt'}"
        )
    if quality is not None:
        lines += quality.lines()
    if summary.packaged:
        lines.append(f"Packaged: {summary.packaged}; next: distill generate {Path(summary.packaged).stem}")
    elif cfg.next_step:
        lines.append(f"Next: {cfg.next_step.format(run=output_dir)}")
    return lines


def _without(cfg: DictConfig, key: str) -> DictConfig:
    trimmed = cfg.copy()
    with open_dict(trimmed):
        trimmed.pop(key, None)
    return trimmed


def _package(cfg: DictConfig, output_dir: Path) -> Path:
    """``package=true``: bundle this run (and the runs it builds on) into the model library."""
    from distill.bundle.package import package_runs

    name = cfg.package_name or f"{Path(cfg.data.path).name}-{output_dir.name}"
    packaged = package_runs(**cfg.package_components, name=name, tags=list(cfg.package_tags))
    log.info("Packaged %s as '%s' in the model library", packaged.path, name)
    return packaged.path
