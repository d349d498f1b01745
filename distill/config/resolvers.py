"""OmegaConf resolvers used by the config tree (registered by distill.train, compose_config and
the Hydra app of train.py).

Registering them imports nothing heavy: the Hydra app registers them before it sets up logging,
and torch or Lightning imported that early would route Lightning's messages past that setup. So
each resolver imports what it needs when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from distill.errors import UserError


def dead_code_threshold(
    batch_size: int, crop_frames: int, codebook_size: int, fraction: float, bands_per_row: int = 16
) -> float:
    """``fraction`` of the expected uses of each code in one batch (cells per batch / codebook size).

    The library compares this with each code's EMA use count, whose steady state is exactly that
    expectation for a uniformly used codebook, so the rule means the same at any batch or crop size.
    ``bands_per_row`` defaults to the 16 of configs written before it was a setting.
    """
    from distill.audio.mel import MelConfig
    from distill.nn.conv_codec import grid_shape

    rows, columns = grid_shape(MelConfig().n_mels, crop_frames, bands_per_row)
    cells = batch_size * rows * columns
    return fraction * cells / codebook_size


def run_setting(run: str, key: str) -> Any:
    """A value from another training run's resolved ``config.yaml`` (run folder, or a checkpoint in it).

    How the prior's config takes its code-grid shape (levels, codebook size; rows from
    ``run_grid_rows``) and its data folder from the VQ-VAE run it models, so those are never
    typed twice and cannot disagree.
    """
    from distill.runs import read_run_config, run_folder_of

    value = OmegaConf.select(read_run_config(run), key, throw_on_missing=False)
    if value is None:
        raise UserError(f"The run {run_folder_of(run)} has no setting {key} in its config.yaml.")
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def run_grid_rows(run: str) -> int:
    """Frequency rows of the code grids of a VQ-VAE run: the bands of its mel over its cell's.

    The mel is the run's ``data.mel`` over ``MelConfig``'s defaults, so a run whose config.yaml
    names only the mel's ``_target_`` (every run so far), or no mel at all, reads as 128 bands;
    a run without ``bands_per_row`` (those before it was a setting) has 16-band cells.
    """
    from distill.audio.mel import MelConfig
    from distill.nn.conv_codec import DOWNSAMPLE, grid_shape
    from distill.runs import read_run_config, run_folder_of

    config = read_run_config(run)
    mel = OmegaConf.select(config, "data.mel", throw_on_missing=False)
    settings = OmegaConf.to_container(mel) if OmegaConf.is_config(mel) else {}
    settings.pop("_target_", None)
    try:
        n_mels = MelConfig(**settings).n_mels
    except TypeError as error:
        raise UserError(
            f"The run {run_folder_of(run)} has a mel setting distill does not know ({error})."
        ) from None
    bands_per_row = OmegaConf.select(config, "model.net.encoder.bands_per_row", default=DOWNSAMPLE)
    return grid_shape(n_mels, 0, bands_per_row)[0]


def cpu_precision(bf16: bool | str) -> str:
    """Lightning's ``precision`` for a run on the CPU from ``cpu_bf16``: bfloat16 mixed precision
    where it is true, or "auto" and the CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16),
    else float32. Where bfloat16 is emulated in software, "auto" does not pick it (no speed to gain).
    """
    if bf16 == "auto":
        bf16 = native_bf16()
    if not isinstance(bf16, bool):
        raise UserError(f"cpu_bf16 must be auto, true or false, got {bf16!r}.")
    return "bf16-mixed" if bf16 else "32-true"


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (x86 AMX-BF16 or AVX512-BF16)."""
    import torch

    capabilities = getattr(torch.cpu, "get_capabilities", None)  # torch >= 2.10
    if capabilities is not None:
        found = capabilities()
        return bool(found.get("amx_bf16") or found.get("avx512_bf16"))
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def folder_name(path: str) -> str:
    """The last part of a path: a run's or a sound folder's name, for W&B names and tags."""
    return Path(str(path)).expanduser().resolve().name


def config_options(group: str) -> str:
    """The options of a config group as the running Hydra app sees them, for the ``--help``
    template; files starting with ``_`` are shared parts, not options (as ``distill.config.options``)."""
    from hydra.core.global_hydra import GlobalHydra

    found = GlobalHydra.instance().config_loader().get_group_options(group)
    return ", ".join(option for option in found if not option.startswith("_"))


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
    OmegaConf.register_new_resolver("run_grid_rows", run_grid_rows, replace=True)
    OmegaConf.register_new_resolver("folder_name", folder_name, replace=True)
    OmegaConf.register_new_resolver("cpu_precision", cpu_precision, replace=True)
    OmegaConf.register_new_resolver("sweep_group", sweep_group, replace=True)
    OmegaConf.register_new_resolver("config_options", config_options, replace=True)
