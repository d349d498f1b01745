"""Dataset-size tiers: the values live in the config tree's data/{small,medium,large}.yaml (the ``tier`` node).

``data=auto`` is resolved here, once, at the start of a run: the usable file count picks the
tier and its node replaces ``data.tier``, so model configs simply interpolate
``${data.tier.codebook_size}`` and no model code ever branches on the tier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from omegaconf import DictConfig, open_dict

from distill.config import load_option

log = logging.getLogger(__name__)

# The data-group options that are tiers, smallest first.
TIER_OPTIONS = ("small", "medium", "large")
AUTO = "auto"


@dataclass(frozen=True, kw_only=True)
class Tier:
    name: str
    min_files: int
    max_files: int | None  # None: no upper bound
    node: DictConfig  # the whole ``tier`` node, as merged into data.tier


def load_tiers() -> list[Tier]:
    tiers = []
    for option in TIER_OPTIONS:
        node = load_option("data", option).tier
        tiers.append(Tier(name=node.name, min_files=node.min_files, max_files=node.max_files, node=node))
    return tiers


def pick_tier(n_files: int, tiers: list[Tier] | None = None) -> Tier:
    """The smallest tier whose upper bound holds ``n_files`` (fewer than the minimum: the smallest, with a warning)."""
    tiers = tiers if tiers is not None else load_tiers()
    smallest = tiers[0]
    if n_files < smallest.min_files:
        log.warning(
            "Only %d usable file(s); distill is made for at least %d. Training anyway with the '%s' tier.",
            n_files,
            smallest.min_files,
            smallest.name,
        )
    for tier in tiers:
        if tier.max_files is None or n_files <= tier.max_files:
            return tier
    return tiers[-1]


def resolve_auto_tier(cfg: DictConfig, n_files: int) -> str:
    """If ``data.tier.name`` is auto, replace ``data.tier`` with the tier for ``n_files``; return the tier name."""
    if cfg.data.tier.name != AUTO:
        return cfg.data.tier.name
    tier = pick_tier(n_files)
    with open_dict(cfg):
        cfg.data.tier = tier.node
    log.info("data=auto: %d usable file(s) -> tier '%s'", n_files, tier.name)
    return tier.name
