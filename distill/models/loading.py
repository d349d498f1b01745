"""Rebuild a trained LightningModule from a run folder or checkpoint (for evaluation scripts and previews)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig

from distill.errors import UserError
from distill.runs import find_run, read_run_config

if TYPE_CHECKING:
    import lightning as L


def load_trained_module(
    run_or_checkpoint: Path | str, *, map_location: str = "cpu"
) -> tuple[L.LightningModule, DictConfig]:
    """The module built from the run's resolved config, with the checkpoint's weights and buffers, in eval mode."""
    import hydra

    run_dir, checkpoint = find_run(run_or_checkpoint)
    cfg = read_run_config(run_dir)
    if "stft_distance" in cfg.model:  # a vocoder run, perhaps from before the distance's settings
        from distill.vocoders.quality import stft_distance_config

        cfg.model.stft_distance = stft_distance_config(cfg.model.stft_distance)
    module = hydra.utils.instantiate(cfg.model)
    # weights_only: a checkpoint is tensors and plain containers; loading one must never run code.
    state = torch.load(checkpoint, map_location=map_location, weights_only=True)["state_dict"]
    module.load_state_dict(state)
    return module.eval(), cfg


def load_vqvae_net(source: Path | str):
    """The frozen ``RVQVAE`` (eval mode) of a `model=vqvae` run (folder or checkpoint)."""
    from distill.nn.vqvae import RVQVAE

    module, _ = load_trained_module(source)
    net = getattr(module, "net", None)
    if not isinstance(net, RVQVAE):
        raise UserError(f"{source} is a {type(module).__name__} run, not an RVQ-VAE run (model=vqvae).")
    return net.eval()


def load_vocoder(run_or_checkpoint: Path | str, *, chunk_frames: int = 256):
    """A ready-to-render GeneratorVocoder from a `model=vocoder` training run (folder or checkpoint)."""
    from distill.nn.mel_generator import MelGenerator
    from distill.vocoders.generator import GeneratorVocoder

    module, cfg = load_trained_module(run_or_checkpoint)
    if not isinstance(getattr(module, "generator", None), MelGenerator):
        raise UserError(
            f"{run_or_checkpoint} is a {type(module).__name__} run, not a vocoder run (model=vocoder)."
        )
    return GeneratorVocoder(
        module.generator, sample_rate=module.mel_config.sample_rate, chunk_frames=chunk_frames
    )


def preview_vocoder(*, run: str | None):
    """The vocoder that renders training previews to audio: the given vocoder run's, else the
    universal BigVGAN when it is installed and its weights are local, else None (images only)."""
    if run is not None:
        return load_vocoder(run)
    from distill.vocoders.bigvgan import is_available, load_bigvgan

    return load_bigvgan() if is_available() else None
