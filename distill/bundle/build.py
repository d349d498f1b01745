"""Building a model file's modules from its configs, safely, without Lightning or Hydra.

Each component's member ``<component>.yaml`` is the whole resolved config of the run that trained
it; ``COMPONENT_SPECS`` says which node of it builds the module and which prefix its weights had
in the run's Lightning checkpoint (packaging strips it). Building never runs code a file brings:
the YAML is parsed as plain data (``yaml.safe_load``: no tags, no resolvers), every ``_target_``
of the node is checked *before anything is built* to name an ``nn.Module`` class defined in
``distill.nn``, and the modules are built by a small constructor walk here rather than by Hydra,
so no interpolation or ``_partial_``/``_args_`` trick can reach another callable.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import yaml
from torch import nn

from distill.audio.mel import MelConfig
from distill.bundle.errors import CorruptModelFileError, RetiredArchitectureError, UnsafeConfigError
from distill.nn.mel_generator import MelGenerator
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE


@dataclass(frozen=True)
class ComponentSpec:
    """Where a component lives in its training run and in its config."""

    run_target: str  # the LightningModule that trains it: packaging checks a run is of this kind
    node: str  # dotted path of the config node that builds the module
    prefix: str  # prefix of the module's keys in the run's Lightning state_dict
    module_type: type[nn.Module]  # what the node must build


COMPONENT_SPECS: Mapping[str, ComponentSpec] = MappingProxyType(
    {
        "vqvae": ComponentSpec("distill.models.vqvae.VQVAEModule", "model.net", "net.", RVQVAE),
        "prior": ComponentSpec("distill.models.prior.PriorModule", "model.net", "net.", TokenPrior),
        "vocoder": ComponentSpec(
            "distill.models.vocoder.VocoderModule", "model.generator", "generator.", MelGenerator
        ),
    }
)
MEL_NODE = "data.mel"  # of the VQ-VAE's config: the mel its codes describe
MEL_TARGET = "distill.audio.mel.MelConfig"

# Classes an earlier distill built and this one deleted: what it was, and what to train instead.
RETIRED_TARGETS = {
    "distill.nn.column_prior.ColumnPrior": (
        "the column prior",
        "train.py model=prior, or model/prior_net=cell, which replaced it",
    ),
}

# `distill.nn.<module>.<Class>`: one module level, as every config writes it; anything else
# (deeper attribute paths reaching an imported name, other packages) is refused unimported.
_TARGET = re.compile(r"distill\.nn\.([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")
_TARGET_KEY = "_target_"


# --- configs: parsed as data, checked, then built ---------------------------------------------------


def parse_config(source: str | Path, component: str, text: str) -> dict[str, Any]:
    """A resolved run config as plain data (no YAML tags, no interpolation ever resolved)."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        raise CorruptModelFileError(source, f"its {component} config is not valid YAML") from None
    if not isinstance(config, dict):
        raise CorruptModelFileError(source, f"its {component} config is not a YAML mapping")
    return config


def config_node(source: str | Path, component: str, config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise CorruptModelFileError(source, f"its {component} config has no {dotted} node")
        node = node[key]
    return node


def _module_class(source: str | Path, component: str, target: object) -> type[nn.Module]:
    """The class a ``_target_`` names, if it is an nn.Module defined in distill.nn; else refused."""
    if isinstance(target, str) and target in RETIRED_TARGETS:  # a list or mapping is not hashable
        raise RetiredArchitectureError(source, component, *RETIRED_TARGETS[target])
    match = _TARGET.fullmatch(target) if isinstance(target, str) else None
    if match is None:
        raise UnsafeConfigError(source, component, target)
    try:
        module = importlib.import_module(f"distill.nn.{match[1]}")
    except ImportError:
        raise UnsafeConfigError(source, component, target) from None
    found = getattr(module, match[2], None)
    # A name imported into a distill.nn module (torch.nn.Linear, a function) is not ours to build.
    ours = (
        isinstance(found, type)
        and issubclass(found, nn.Module)
        and found.__module__.startswith("distill.nn.")
    )
    if not ours:
        raise UnsafeConfigError(source, component, target)
    return found


def _check_targets(source: str | Path, component: str, node: Any) -> None:
    """Refuse the whole node if any ``_target_`` in it is not ours, before anything is built."""
    if isinstance(node, list):
        for item in node:
            _check_targets(source, component, item)
    elif isinstance(node, dict):
        if _TARGET_KEY in node:
            _module_class(source, component, node[_TARGET_KEY])
        for value in node.values():
            _check_targets(source, component, value)


def _build(source: str | Path, component: str, node: Any) -> Any:
    """Constructor walk: a mapping with ``_target_`` is built from its (built) keyword arguments."""
    if isinstance(node, list):
        return [_build(source, component, item) for item in node]
    if not isinstance(node, dict):
        return node
    if _TARGET_KEY not in node:
        return {key: _build(source, component, value) for key, value in node.items()}
    cls = _module_class(source, component, node[_TARGET_KEY])
    special = sorted(str(key) for key in node if str(key).startswith("_") and key != _TARGET_KEY)
    if special:
        raise CorruptModelFileError(
            source, f"its {component} config uses {special[0]}, which a model file does not support"
        )
    kwargs = {key: _build(source, component, value) for key, value in node.items() if key != _TARGET_KEY}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise CorruptModelFileError(
            source, f"its {component} config does not build a {cls.__name__} ({error})"
        ) from None


def build_component(
    source: str | Path, component: str, config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
) -> nn.Module:
    """The component's module from its run config and weights, in eval mode, on the CPU.

    Modules trained with weight norm (HiFi-GAN) are folded for inference; weights saved either way
    load. A vocoder config must build a member of the ``MelGenerator`` family.
    """
    spec = COMPONENT_SPECS[component]
    node = config_node(source, component, config, spec.node)
    _check_targets(source, component, node)
    module = _build(source, component, node)
    if not isinstance(module, spec.module_type):
        raise CorruptModelFileError(
            source,
            f"its {component} config builds a {type(module).__name__}, not a {spec.module_type.__name__}",
        )
    folds = hasattr(module, "remove_weight_norm")
    if folds and not any(".parametrizations." in key for key in state_dict):
        module.remove_weight_norm()  # the weights were saved folded
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        reason = str(error).splitlines()[0].rstrip(":. ")
        raise CorruptModelFileError(
            source, f"its {component} weights do not fit its config ({reason})"
        ) from None
    if folds:
        module.remove_weight_norm()
    return module.eval()


def mel_config_of(source: str | Path, component: str, config: Mapping[str, Any]) -> MelConfig:
    """The ``data.mel`` node as a MelConfig (the one target allowed outside distill.nn)."""
    node = config_node(source, component, config, MEL_NODE)
    if not isinstance(node, dict) or node.get(_TARGET_KEY) != MEL_TARGET:
        target = node.get(_TARGET_KEY) if isinstance(node, dict) else node
        raise UnsafeConfigError(source, component, target)
    try:
        return MelConfig(**{key: value for key, value in node.items() if key != _TARGET_KEY})
    except TypeError as error:
        raise CorruptModelFileError(source, f"its {component} mel settings are unusable ({error})") from None


def prior_vqvae_digest(metadata: Mapping[str, Any]) -> str | None:
    """``training.prior.vqvae_digest``: the VQ-VAE whose codes the prior was trained on."""
    training = metadata.get("training")
    prior = training.get("prior") if isinstance(training, Mapping) else None
    digest = prior.get("vqvae_digest") if isinstance(prior, Mapping) else None
    return digest if isinstance(digest, str) else None
