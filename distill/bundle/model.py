"""``DistillModel``: a ``.distillgan`` file rebuilt into its modules, without Lightning.

Each component's member ``<component>.yaml`` is the whole resolved config of the run that trained
it; ``COMPONENT_SPECS`` says which node of it builds the module and which prefix its weights had
in the run's Lightning checkpoint (packaging strips it). Building never runs code a file brings:
the YAML is parsed as plain data (``yaml.safe_load``: no tags, no resolvers), every ``_target_``
of the node is checked *before anything is built* to name an ``nn.Module`` class defined in
``distill.nn``, and the modules are built by a small constructor walk here rather than by Hydra,
so no interpolation or ``_partial_``/``_args_`` trick can reach another callable.

Metadata keys read here (written by ``distill.bundle.package``): ``name``, ``id``, ``vqvae_digest``
(``distill.weights.state_dict_digest`` of the VQ-VAE) and ``training.prior.vqvae_digest`` (the
VQ-VAE the prior was trained on); a prior whose digest is not its VQ-VAE's is refused.
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

from distill.audio.envelope import CollectionShape
from distill.audio.mel import MelConfig
from distill.bundle import locate_model
from distill.bundle.errors import CorruptModelFileError, InconsistentModelFileError, UnsafeConfigError
from distill.bundle.format import (
    COMPONENTS,
    ComponentPayload,
    read_model_file,
    write_model_file,
)
from distill.nn.mel_generator import MelGenerator
from distill.nn.prior import CodePrior
from distill.nn.vqvae import RVQVAE
from distill.vocoders.base import Vocoder
from distill.vocoders.bigvgan import HUB_ID
from distill.vocoders.choice import VocoderChoice
from distill.vocoders.generator import GeneratorVocoder
from distill.vocoders.quality import VocoderQuality
from distill.vocoders.selection import VocoderSelection, select_vocoder
from distill.weights import state_dict_digest


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
        "prior": ComponentSpec("distill.models.prior.PriorModule", "model.net", "net.", CodePrior),
        "vocoder": ComponentSpec(
            "distill.models.vocoder.VocoderModule", "model.generator", "generator.", MelGenerator
        ),
    }
)
MEL_NODE = "data.mel"  # of the VQ-VAE's config: the mel its codes describe
MEL_TARGET = "distill.audio.mel.MelConfig"
# Frames per chunk of the bundled vocoder (about 12 s): bounds memory only (tens of MB); the chunks
# overlap by the generator's receptive field, so the audio equals one-shot rendering at any chunk
# size. Vocos on 2 cores, 10 s: 98x real time at 256-frame chunks, 119x at 512, 137x at 1024 (the
# 2 x 29 frames of overlap cost 23 % at 256).
VOCODER_CHUNK_FRAMES = 1024

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


# --- the model ------------------------------------------------------------------------------------


class DistillModel:
    """A trained model: RVQ-VAE (always), transformer prior and its own vocoder (each optional).

    Modules are in eval mode on ``device``. A model without a prior is valid: it encodes, edits
    and decodes code grids; only generating from nothing needs a prior.
    """

    def __init__(
        self,
        *,
        metadata: Mapping[str, Any],
        configs: Mapping[str, str],
        vqvae: RVQVAE,
        prior: CodePrior | None,
        vocoder_generator: MelGenerator | None,
        mel_config: MelConfig,
        path: Path | None = None,
    ) -> None:
        self.metadata = dict(metadata)
        self.vqvae = vqvae.eval()
        self.prior = prior.eval() if prior is not None else None
        self.vocoder_generator = vocoder_generator.eval() if vocoder_generator is not None else None
        self.mel_config = mel_config
        self.path = path  # the file it was loaded from, if any
        self.components = tuple(name for name in COMPONENTS if self._modules().get(name) is not None)
        missing = sorted(set(self.components) - set(configs))
        if missing:
            raise ValueError(f"no config given for the {missing[0]} component")
        self._configs = {name: configs[name] for name in self.components}
        self._own_vocoder: GeneratorVocoder | None = None
        self._selections: dict[tuple[str, str], VocoderSelection] = {}

    @property
    def name(self) -> str:
        """The metadata name, else the file's stem (a file made outside packaging may have none)."""
        name = self.metadata.get("name")
        if isinstance(name, str) and name:
            return name
        return self.path.stem if self.path is not None else "model"

    @property
    def id(self) -> str | None:
        return self.metadata.get("id")

    def __repr__(self) -> str:
        return f"DistillModel(name={self.name!r}, id={self.id!r}, components={self.components})"

    def _modules(self) -> dict[str, nn.Module | None]:
        return {"vqvae": self.vqvae, "prior": self.prior, "vocoder": self.vocoder_generator}

    @classmethod
    def load(
        cls,
        path_or_name: str | Path,
        *,
        device: str | torch.device = "cpu",
        library: str | Path | None = None,
    ) -> DistillModel:
        """Load a model file (a path) or a library model (a name or id; see ``locate_model``).

        Raises a ``ModelFileError`` subclass with one sentence for any file that is not a sound,
        safe distill model, and a ``LibraryError`` for a name the library does not know.
        """
        path = locate_model(path_or_name, library=library)
        contents = read_model_file(path)
        configs = {
            name: parse_config(path, name, payload.config_yaml)
            for name, payload in contents.components.items()
        }
        mel_config = mel_config_of(path, "vqvae", configs["vqvae"])  # checked before anything is built
        built = {
            name: build_component(path, name, configs[name], payload.state_dict)
            for name, payload in contents.components.items()
        }
        metadata = contents.metadata
        digest = state_dict_digest(contents.components["vqvae"].state_dict)
        recorded = metadata.get("vqvae_digest")
        if recorded is not None and recorded != digest:
            raise InconsistentModelFileError(path, "its VQ-VAE weights are not the ones its metadata names")
        if "prior" in built:
            trained_on = prior_vqvae_digest(metadata)
            if trained_on is None:
                raise InconsistentModelFileError(
                    path, "it does not record which VQ-VAE its prior was trained on"
                )
            if trained_on != digest:
                raise InconsistentModelFileError(
                    path, "its prior was trained on the codes of another VQ-VAE than the one it holds"
                )
        return cls(
            metadata=metadata,
            configs={name: payload.config_yaml for name, payload in contents.components.items()},
            vqvae=built["vqvae"].to(device),
            prior=built["prior"].to(device) if "prior" in built else None,
            vocoder_generator=built["vocoder"].to(device) if "vocoder" in built else None,
            mel_config=mel_config,
            path=path,
        )

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` atomically (the old file, if any, stays whole until the rename).

        The weights are the modules' current ones; ``vqvae_digest`` is recomputed from them.
        """
        path = Path(path).expanduser()
        digest = state_dict_digest(self.vqvae.state_dict())
        if self.prior is not None and prior_vqvae_digest(self.metadata) != digest:
            raise ValueError(
                "cannot save: the VQ-VAE's weights are not those the prior was trained on, "
                "so the file would not load"
            )
        modules = self._modules()
        payloads = {
            name: ComponentPayload(state_dict=modules[name].state_dict(), config_yaml=self._configs[name])
            for name in self.components
        }
        write_model_file(path, payloads, {**self.metadata, "vqvae_digest": digest})
        return path

    @property
    def sounds(self) -> CollectionShape | None:
        """The collection's lengths and decay, recorded when the prior trained (one-shot generation
        and the default mode read it); None for a model packaged without one."""
        return CollectionShape.from_dict(self.metadata.get("sounds"))

    def vocoder_quality(self, kind: str = "own") -> VocoderQuality | None:
        """The held-out quality recorded for the model's own vocoder (``own``) or for BigVGAN
        (``bigvgan``, measured on the same files at packaging when it was installed)."""
        info = self.metadata.get("vocoder")
        if not isinstance(info, Mapping):
            return None
        return VocoderQuality.from_dict(info.get("quality") if kind == "own" else info.get(f"{kind}_quality"))

    def select_vocoder(
        self, choice: VocoderChoice | str = "auto", *, bigvgan_source: str | Path = HUB_ID
    ) -> VocoderSelection:
        """The vocoder that renders this model's mels, with why (see ``select_vocoder``); once per choice."""
        key = (str(choice), str(bigvgan_source))
        if key not in self._selections:
            if self._own_vocoder is None and self.vocoder_generator is not None:
                self._own_vocoder = GeneratorVocoder(
                    self.vocoder_generator,
                    sample_rate=self.mel_config.sample_rate,
                    chunk_frames=VOCODER_CHUNK_FRAMES,
                    description=f"{self.vocoder_generator.display_name} (the model's own)",
                )
            self._selections[key] = select_vocoder(
                choice,
                own=self._own_vocoder,
                own_quality=self.vocoder_quality("own"),
                bigvgan_quality=self.vocoder_quality("bigvgan"),
                bigvgan_source=bigvgan_source,
            )
        return self._selections[key]

    def vocoder(
        self, choice: VocoderChoice | str = "auto", *, bigvgan_source: str | Path = HUB_ID
    ) -> Vocoder:
        """The selected vocoder itself (``select_vocoder(...).vocoder``)."""
        return self.select_vocoder(choice, bigvgan_source=bigvgan_source).vocoder
