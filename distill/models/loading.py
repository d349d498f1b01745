"""Rebuild a trained LightningModule from a run folder or checkpoint (for evaluation scripts and previews)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf

from distill.errors import UserError

if TYPE_CHECKING:
    import lightning as L

# What every run folder holds besides checkpoints/: the resolved config it trained with, and the
# summary written when it ended (its best checkpoint, scores, what it measured).
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"


def find_run(run_or_checkpoint: Path | str) -> tuple[Path, Path]:
    """(run folder, checkpoint) for a run folder or a checkpoint inside <run>/checkpoints/.

    A run folder means its best checkpoint by the monitored validation metric, as recorded in its
    summary.json when the run ended; a run without one (still training, or interrupted) means its
    last.ckpt. Everything that reads a run (packaging, a prior's code extraction, evaluation)
    goes through here, so they all agree on which weights a run folder stands for.
    """
    path = Path(run_or_checkpoint).expanduser()
    if path.is_dir():
        run_dir = path
        checkpoint = _best_checkpoint(run_dir) or run_dir / "checkpoints" / "last.ckpt"
    else:
        checkpoint = path
        run_dir = path.parent.parent
    if not checkpoint.is_file():
        raise UserError(f"No checkpoint at {checkpoint}; give a run folder or a .ckpt file from one.")
    if not (run_dir / CONFIG_FILE).is_file():
        raise UserError(
            f"No {CONFIG_FILE} in {run_dir}; the checkpoint must sit in <run>/checkpoints/ of a distill run."
        )
    return run_dir, checkpoint


def _best_checkpoint(run_dir: Path) -> Path | None:
    try:
        best = json.loads((run_dir / SUMMARY_FILE).read_text())["checkpoints"]["best"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # By name inside this folder: the recorded path is absolute and the run may have moved since.
    candidate = run_dir / "checkpoints" / Path(best).name if best else None
    return candidate if candidate is not None and candidate.is_file() else None


def load_trained_module(
    run_or_checkpoint: Path | str, *, map_location: str = "cpu"
) -> tuple[L.LightningModule, DictConfig]:
    """The module built from the run's resolved config, with the checkpoint's weights and buffers, in eval mode."""
    import hydra

    run_dir, checkpoint = find_run(run_or_checkpoint)
    cfg = OmegaConf.load(run_dir / CONFIG_FILE)
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
