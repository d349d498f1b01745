"""OmegaConf resolvers used by configs/ (registered when distill.train is imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from distill.errors import UserError
from distill.runs import read_run_config, run_folder_of

# The VQ-VAE halves the 128 mel bands and the crop's frames four times (16x in both axes).
_CELL = 16
_MEL_BANDS = 128


def dead_code_threshold(batch_size: int, crop_frames: int, codebook_size: int, fraction: float) -> float:
    """``fraction`` of the expected uses of each code in one batch (cells per batch / codebook size).

    The library compares this with each code's EMA use count, whose steady state is exactly that
    expectation for a uniformly used codebook, so the rule means the same at any batch or crop size.
    """
    cells = batch_size * (_MEL_BANDS // _CELL) * -(-crop_frames // _CELL)
    return fraction * cells / codebook_size


def run_setting(run: str, key: str) -> Any:
    """A value from another training run's resolved ``config.yaml`` (run folder, or a checkpoint in it).

    How the prior's config takes its code-grid shape (levels, codebook size) and its data folder
    from the VQ-VAE run it models, so those are never typed twice and cannot disagree.
    """
    value = OmegaConf.select(read_run_config(run), key, throw_on_missing=False)
    if value is None:
        raise UserError(f"The run {run_folder_of(run)} has no setting {key} in its config.yaml.")
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def folder_name(path: str) -> str:
    """The last part of a path: a run's or a sound folder's name, for W&B names and tags."""
    return Path(str(path)).expanduser().resolve().name


def sweep_group(fallback: str) -> str:
    """The sweep a job belongs to (``sweep-<multirun folder>``) under ``-m``, else ``fallback``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return f"sweep-{Path(HydraConfig.get().sweep.dir).name}"
    return fallback


def register() -> None:
    OmegaConf.register_new_resolver("dead_code_threshold", dead_code_threshold, replace=True)
    OmegaConf.register_new_resolver("run_setting", run_setting, replace=True)
    OmegaConf.register_new_resolver("folder_name", folder_name, replace=True)
    OmegaConf.register_new_resolver("sweep_group", sweep_group, replace=True)
