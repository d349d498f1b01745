"""The vocoder kinds and their display names, read from the classes themselves.

The trained family is whatever ``model/generator/`` in the config tree holds: each option is named
as its generator class's ``kind`` (``tests/test_configs.py`` checks it) and its ``_target_`` names
the class; BigVGAN, the universal vocoder, is the one kind outside it. So a new generator kind is
its module plus its YAML, and lists, help texts and reports that name kinds read them here.

``vocoder_names`` reads ``kind`` and ``display_name`` from the classes' source instead of
importing them: the library commands (``distill models list / info``) name vocoders and import no
torch. A test checks that it reads what the imported classes say.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill.config import load_option, options

if TYPE_CHECKING:
    from distill.nn.mel_generator import MelGenerator

GENERATOR_GROUP = "model/generator"
UNIVERSAL = "distill.vocoders.bigvgan.BigVGANVocoder"  # the vocoder no model trains


def generator_targets() -> dict[str, str]:
    """Option name of ``model/generator`` (= its kind) -> the class its ``_target_`` names."""
    return {
        option: load_option(GENERATOR_GROUP, option).generator._target_ for option in options(GENERATOR_GROUP)
    }


def generator_classes() -> dict[str, type[MelGenerator]]:
    """Option name of ``model/generator`` -> the generator class, imported."""
    from hydra.utils import get_class

    return {option: get_class(target) for option, target in generator_targets().items()}


def _class_constants(target: str) -> dict[str, Any]:
    """The class attributes set to constants (``kind = "vocos"``) in the source of ``target``."""
    module, _, name = target.rpartition(".")
    spec = importlib.util.find_spec(module)  # imports the parent packages only
    tree = ast.parse(Path(spec.origin).read_text())
    found = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)
    return {
        statement.targets[0].id: statement.value.value
        for statement in found.body
        if isinstance(statement, ast.Assign)
        and isinstance(statement.targets[0], ast.Name)
        and isinstance(statement.value, ast.Constant)
    }


@functools.cache
def vocoder_names() -> dict[str, str]:
    """Every vocoder kind a run or model file can record -> the name a person reads."""
    classes = [*generator_targets().values(), UNIVERSAL]
    return {constants["kind"]: constants["display_name"] for constants in map(_class_constants, classes)}
