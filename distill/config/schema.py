"""Typed schemas for the settings people type on the command line, checked before anything is built.

Hydra composes ``trainer.max_steps=abc`` happily and Lightning later fails with
``TypeError: '<' not supported between instances of 'str' and 'int'``; checked here, it is one
sentence naming the key. The YAML stays the single source of defaults: a schema only says which
type a key holds, and only for the keys a config actually has.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from distill.errors import UserError

CUDA_INSTALL = (
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130 "
    "(pick the index for your CUDA version at https://pytorch.org/get-started/locally/)"
)


class SettingError(UserError):
    """A setting with a value of the wrong type or range."""


@dataclasses.dataclass
class TrainerSchema:
    accelerator: str
    devices: Any  # an int, a list of device ids or "auto"
    max_epochs: int | None
    max_steps: int
    max_time: str | None
    precision: str
    log_every_n_steps: int
    check_val_every_n_epoch: int | None
    num_sanity_val_steps: int
    gradient_clip_val: float | None
    limit_train_batches: float | None
    limit_val_batches: float | None
    deterministic: bool
    enable_model_summary: bool
    enable_progress_bar: bool


@dataclasses.dataclass
class DataSchema:
    path: str
    batch_size: int
    val_batch_size: int
    crop_frames: int
    val_crop_frames: int
    crops_per_file: int
    val_fraction: float
    split_seed: int
    num_workers: int
    windows_per_file: int
    takes_per_file: int
    val_takes_per_file: int
    max_gap_columns: int | None
    file_start_share: float


# Keys that must be at least 1 when set.
_POSITIVE = {"batch_size", "val_batch_size", "crop_frames", "val_crop_frames", "crops_per_file",
             "windows_per_file", "takes_per_file", "val_takes_per_file", "log_every_n_steps"}  # fmt: skip


def check_node(node: DictConfig, schema: type, prefix: str) -> None:
    """Each key of ``node`` that ``schema`` names holds a value of its type (and range)."""
    kinds = {field.name: field.type for field in dataclasses.fields(schema)}
    base = OmegaConf.structured(schema)
    for key in (key for key in node if key in kinds):
        value = node[key]
        try:
            checked = OmegaConf.merge(base, {key: value})[key]
        except ValidationError:
            raise SettingError(
                f"{prefix}.{key}={value} is not valid: it takes {_describe(kinds[key])}."
            ) from None
        if key in _POSITIVE and checked is not None and checked < 1:
            raise SettingError(f"{prefix}.{key}={value} is not valid: it must be at least 1.")
        if key == "val_fraction" and not 0 <= checked < 1:
            raise SettingError(
                f"{prefix}.{key}={value} is not valid: it is a share of files, from 0 up to 1."
            )


def _describe(kind: Any) -> str:
    text = str(kind).replace("NoneType", "null").replace("None", "null")
    words = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false"}
    parts = [words.get(part.strip(), part.strip()) for part in text.split("|")]
    return " or ".join(parts)


def check_accelerator(trainer: DictConfig) -> None:
    """``trainer=gpu`` on a machine whose torch sees no GPU: one sentence with the way out."""
    if trainer.accelerator not in ("gpu", "cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        build = torch.__version__
        raise SettingError(
            f"trainer=gpu asks for a CUDA GPU, but this torch ({build}) sees none. Train on the CPU "
            f"(trainer=cpu), or on a machine with an NVIDIA GPU install a CUDA build: {CUDA_INSTALL}."
        )


def check_loggers(loggers: DictConfig | None) -> None:
    for name, entry in (loggers or {}).items():
        if entry is not None and str(entry.get("_target_", "")).endswith("WandbLogger"):
            if importlib.util.find_spec("wandb") is None:
                raise SettingError(
                    f"logger={name} needs the wandb package, which is not installed: "
                    "pip install 'distill[wandb]' (or use logger=csv)."
                )


def check_settings(cfg: DictConfig) -> None:
    """Every check that needs no data and no model, before a run starts."""
    check_node(cfg.trainer, TrainerSchema, "trainer")
    check_node(cfg.data, DataSchema, "data")
    check_accelerator(cfg.trainer)
    check_loggers(cfg.logger)
