"""Packaged tiny models for CLI tests, in about a second and without training runs.

``tiny_model_file`` writes a real ``.distillgan`` file (configs ``DistillModel.load`` builds, weights,
the prior's VQ-VAE digest) around the debug-size modules of ``tests/tiny_model.py``: a randomly
initialised narrow HiFi-GAN, so every seed renders different, non-silent audio.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from conftest import NARROW_V2, TINY_CELL_PRIOR, tiny_rvqvae

from distill.audio.mel import MelConfig
from distill.bundle.catalog import ModelLibrary
from distill.model import DistillModel
from distill.nn.cell_prior import CellPrior
from distill.nn.hifigan import HifiGanGenerator
from distill.weights import state_dict_digest

_CODEC = dict(channels=[4, 8, 8, 8, 8], latent_dim=8, blocks_per_stage=1, residual_time_kernel=1)
_QUANTIZER = dict(
    dim=8,
    num_levels=2,
    codebook_size=16,
    decay=0.8,
    commitment_weight=0.25,
    kmeans_iters=2,
    threshold_ema_dead_code=0,
    quantize_dropout=False,
)
TEXTURE = 0.5  # decoding draws the texture, as today's models do
PITCH_HEAD = 8  # the codes carry the pitch, as today's models' do
_GENERATOR = {**NARROW_V2, "upsample_initial_channel": 16}


def _configs(controls: int = 0) -> dict[str, str]:
    vqvae = {
        "_target_": "distill.nn.vqvae.RVQVAE",
        "encoder": {"_target_": "distill.nn.conv_codec.ConvEncoder", **_CODEC, "pitch_input": True},
        "quantizer": {"_target_": "distill.nn.quantizer.ResidualQuantizer", **_QUANTIZER},
        "decoder": {
            "_target_": "distill.nn.conv_codec.ConvDecoder",
            **_CODEC,
            "texture_head": True,
            "pitch_head_channels": PITCH_HEAD,
        },
        "texture": TEXTURE,
    }
    return {
        "vqvae": yaml.safe_dump(
            {"model": {"net": vqvae}, "data": {"mel": {"_target_": "distill.audio.mel.MelConfig"}}}
        ),
        "prior": yaml.safe_dump(
            {
                "model": {
                    "net": {
                        "_target_": "distill.nn.cell_prior.CellPrior",
                        **TINY_CELL_PRIOR,
                        "controls": controls,
                    }
                }
            }
        ),
        "vocoder": yaml.safe_dump(
            {"model": {"generator": {"_target_": "distill.nn.hifigan.HifiGanGenerator", **_GENERATOR}}}
        ),
    }


def tiny_model_file(path: Path, *, name: str = "tiny", seed: int = 0, controls: dict | None = None) -> Path:
    """Write a tiny model (VQ-VAE, prior, HiFi-GAN vocoder) to ``path``; ``seed`` picks its weights.
    ``controls``: the recorded ranges of a prior conditioned on the five controls (ControlSpace.as_dict)."""
    import torch

    vqvae = tiny_rvqvae(seed=seed, texture=TEXTURE, pitch_head=PITCH_HEAD)
    with torch.no_grad():
        # Untrained, the decoder maps every code grid to nearly the same flat mel (differences of
        # 1e-5), so seeds would write the same file; 3x its weights makes the codes heard.
        for module in vqvae.decoder.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Conv1d):
                module.weight.mul_(3.0)
    torch.manual_seed(seed)
    prior = CellPrior(**TINY_CELL_PRIOR, controls=5 if controls else 0).eval()
    generator = HifiGanGenerator(**_GENERATOR).eval()
    generator.remove_weight_norm()  # saved folded, as a file may hold it
    with torch.no_grad():
        # HiFi-GAN's init (weights N(0, 0.01)) passes no signal through an untrained net: it would
        # render tanh(bias), one constant for every mel and seed. 10x lets the mel through.
        for conv in generator._convs():
            conv.weight.mul_(10.0)
    metadata = {
        "name": name,
        "id": uuid.uuid4().hex,
        "training": {"prior": {"vqvae_digest": state_dict_digest(vqvae.state_dict())}},
        "controls": controls,
    }
    model = DistillModel(
        metadata=metadata,
        configs=_configs(5 if controls else 0),
        vqvae=vqvae,
        prior=prior,
        vocoder_generator=generator,
        mel_config=MelConfig(),
    )
    return model.save(path)


def tiny_library(root: Path, names: tuple[str, ...] = ("tiny",)) -> Path:
    """A model library at ``root`` holding one tiny model under each of ``names``."""
    library = ModelLibrary(root=root)
    for index, name in enumerate(names):
        library.add(
            tiny_model_file(root.parent / f"{root.name}-{name}.distillgan", name=name, seed=index), name=name
        )
    return root
