"""``train(cfg)``: one function runs any model (the ``model`` config group decides which).

Called by ``train.py`` (Hydra) and directly by the tests with a composed config.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

from distill import config_resolvers
from distill.data.tiers import CONFIG_DIR, resolve_auto_tier
from distill.errors import UserError
from distill.models.loading import CONFIG_FILE, SUMMARY_FILE

log = logging.getLogger(__name__)


config_resolvers.register()


class ResumeError(UserError):
    """A resume request that cannot be honoured; the message is one sentence for the user."""


def compose_config(overrides: list[str]) -> DictConfig:
    """configs/train.yaml composed outside a Hydra app (benchmarks, scripts); give paths.* explicitly."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


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


def resolve_resume(cfg: DictConfig) -> str | None:
    """Turn ``resume=<run dir>`` / ``ckpt_path=...`` into a checkpoint and continue in that run's folder.

    Continuing in the same folder is what keeps ModelCheckpoint's best/last tracking (Lightning
    only restores it when the checkpoint folder is unchanged) and appends to the same CSV log.
    """
    ckpt_path = cfg.ckpt_path
    if cfg.resume is not None:
        run_dir = Path(cfg.resume).expanduser()
        candidates = [run_dir / "checkpoints" / name for name in ("last.ckpt", "interrupted.ckpt")]
        existing = [path for path in candidates if path.exists()]
        if not existing:
            raise ResumeError(
                f"Cannot resume from {run_dir}: no checkpoints/last.ckpt or interrupted.ckpt in it."
            )
        ckpt_path = str(max(existing, key=lambda path: path.stat().st_mtime))
    if ckpt_path is None:
        return None
    checkpoint = Path(ckpt_path).expanduser()
    if not checkpoint.is_file():
        raise ResumeError(
            f"Checkpoint {checkpoint} does not exist; pass ckpt_path=<run>/checkpoints/last.ckpt."
        )
    if checkpoint.parent.name == "checkpoints":
        with open_dict(cfg):
            cfg.paths.output_dir = str(checkpoint.parent.parent.resolve())
    log.info("Resuming from %s", checkpoint)
    return str(checkpoint)


def _finish_wandb() -> None:
    import sys

    if "wandb" in sys.modules:  # only if a logger actually imported it
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _write_atomic(path: Path, text: str) -> None:
    """Temp file + rename: a crash never leaves a half-written file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def write_summary(path: Path, summary: dict) -> None:
    _write_atomic(path, json.dumps(summary, indent=2, sort_keys=True, default=str))


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
    check_required_settings(cfg if cfg.package else _without(cfg, "package_components"))
    if cfg.seed is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    ckpt_path = resolve_resume(cfg)

    datamodule = hydra.utils.instantiate(cfg.data)
    report = datamodule.scan()
    datamodule.tier_name = resolve_auto_tier(cfg, len(report.usable))
    output_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank == 0:
        # The resolved config (real tier values) beside the checkpoints: what packaging rebuilds from.
        _write_atomic(output_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))

    model = hydra.utils.instantiate(cfg.model)
    callbacks = instantiate_callbacks(cfg.callbacks)
    loggers = instantiate_loggers(cfg.logger)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        _finish_wandb()

    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    summary = {
        "model": cfg.model._target_,
        "tier": datamodule.tier_name,
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,
        "final_metrics": metrics,
        "dataset": datamodule.summary(),
        "checkpoints": _checkpoint_paths(trainer),
    }
    # Parts with something to say about the run (health tables, warnings, loss history, which
    # VQ-VAE made a prior's codes) add a section.
    for part in (datamodule, *callbacks):
        if hasattr(part, "summary_section"):
            summary.update(part.summary_section())
    if trainer.is_global_zero:
        write_summary(output_dir / SUMMARY_FILE, summary)
        if cfg.package:  # reads the summary just written, then records where the model went
            summary["packaged"] = str(_package(cfg, output_dir))
            write_summary(output_dir / SUMMARY_FILE, summary)
    return metrics, {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "trainer": trainer,
        "summary": summary,
    }


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


def _checkpoint_paths(trainer: L.Trainer) -> dict[str, str]:
    """The best checkpoint by the monitored metric, and the newest one."""
    paths = {}
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint):
            continue
        if callback.monitor is not None:
            paths["best"] = callback.best_model_path
        elif callback.best_model_path:  # monitor=None keeps the newest as its "best"
            paths["last"] = callback.best_model_path
    return paths
