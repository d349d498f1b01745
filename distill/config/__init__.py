"""The one home of distill's configuration: the YAML tree (``yaml/``, shipped inside the package so
an installed distill needs no checkout), the compose helper, the resolvers and the typed schemas.

``yaml/train.yaml`` composes one group per swappable part; ``yaml/model_setup/<kind>.yaml`` holds
what a model kind brings besides its model (data needs, callbacks, what ``package=true`` bundles,
its task name and next step). ``train.py`` and ``distill train`` point Hydra at ``CONFIG_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parent / "yaml"


def compose_config(overrides: list[str]) -> DictConfig:
    """``train.yaml`` composed outside a Hydra app (benchmarks, scripts, tests); give paths.* explicitly."""
    from hydra import compose, initialize_config_dir

    from distill.config import resolvers

    resolvers.register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def load_option(group: str, option: str) -> DictConfig:
    """One option file of a group as written (``load_option("data", "_base_")``), not composed."""
    from omegaconf import OmegaConf

    return OmegaConf.load(CONFIG_DIR / group / f"{option}.yaml")


def options(group: str) -> list[str]:
    """The options of a config group a user can choose (files starting with ``_`` are shared parts)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def default_cache_dir() -> Path:
    """Where prepared mels and codes are kept unless ``paths.cache_dir`` says otherwise (the paths
    group's default, with its ``DISTILL_CACHE_DIR`` environment override), for commands outside training."""
    return Path(load_option("paths", "default").cache_dir).expanduser()
