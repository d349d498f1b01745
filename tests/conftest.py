"""Shared fixtures: tiny synthetic audio in tmp_path and Hydra config composition."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def write_tone(
    path: Path,
    *,
    seconds: float = 0.5,
    sample_rate: int = 44100,
    channels: int = 1,
    freq: float = 220.0,
    subtype: str | None = None,
    decay: float = 3.0,
) -> Path:
    """A decaying tone (a plucked/struck sound), written with soundfile."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)
    data = np.stack([mono * (0.5 + 0.5 * c / max(1, channels)) for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.astype(np.float32), sample_rate, subtype=subtype)
    return path


def make_sound_folder(root: Path, n_files: int, *, seconds: float = 0.6) -> Path:
    for index in range(n_files):
        write_tone(
            root / f"hit_{index:03d}.wav", seconds=seconds + 0.1 * (index % 3), freq=110.0 * (1 + index % 7)
        )
    return root


@pytest.fixture
def sound_folder(tmp_path: Path) -> Path:
    return make_sound_folder(tmp_path / "sounds", 6)


def compose(overrides: list[str], *, output_dir: Path):
    """Compose train.yaml like `train.py` would, with runtime paths set for a test."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from distill.config import resolvers

    resolvers.register()  # what train.py's import does; configs use ${dead_code_threshold:…}

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


@pytest.fixture
def compose_cfg(tmp_path: Path):
    def _compose(overrides: list[str]):
        return compose([f"paths.cache_dir={tmp_path / 'cache'}", *overrides], output_dir=tmp_path / "run")

    return _compose


# A debug-size RVQ-VAE (a few thousand parameters) and a short run, for smoke tests.
TINY_VQVAE = [
    "model=vqvae",
    "model.net.encoder.channels=[4,8,8,16,16]",
    "model.net.encoder.latent_dim=8",
    "model.net.decoder.pitch_head_channels=16",
    "model.net.quantizer.num_levels=2",
    "model.kmeans_cells_per_code=2",
    "codebook=k64",  # last: a test swaps it (TINY_VQVAE[:-1])
]
SHORT_RUN = [
    "debug=default",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.enable_progress_bar=false",
]

# HiFi-GAN V2's layer layout (so the same hop and receptive field) at a quarter of the width: the
# chunking logic does not depend on width, and the tests run 10x faster.
NARROW_V2 = dict(
    in_channels=128,
    upsample_initial_channel=32,
    upsample_rates=[8, 8, 4, 2],
    upsample_kernel_sizes=[16, 16, 8, 4],
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilations=[[1, 3, 5]] * 3,
    leaky_relu_slope=0.1,
)

# A debug-size Vocos (the default generator, narrow and shallow) with CPU-light discriminators made
# tinier still; two regression-only generator updates, then the adversarial phase.
TINY_VOCODER = [
    "model=vocoder",
    "model/discriminator=light",
    "model.generator.dim=16",
    "model.generator.intermediate_dim=32",
    "model.generator.num_layers=2",
    "model.regression_steps=2",
    "model.discriminator.members.mpd.channels=[4,4,8,8,8]",
    "model.discriminator.members.mpd.periods=[2,3]",
    "model.discriminator.members.msd.channels=[4,4,8,8,8,8,8]",
    "model.discriminator.members.msd.groups=[1,4,4,4,4,4,1]",
    "model.discriminator.members.msd.num_scales=2",
    "data.crop_frames=8",
    "data.val_crop_frames=64",
]
# The same with a debug-size HiFi-GAN (V2's structure, narrow) as the generator.
TINY_HIFIGAN = [
    *TINY_VOCODER[:2],
    "model/generator=hifigan",
    "model.generator.upsample_initial_channel=16",
    *TINY_VOCODER[5:],
]

# A debug-size prior (one narrow layer) with a 4-column window, so 3 s of codes slides it.
TINY_PRIOR = [
    "model=prior",
    "model.net.hidden=32",
    "model.net.layers=1",
    "model.net.heads=2",
    "model.net.context_columns=4",
    "callbacks.memorization.settings.num_samples=3",
]


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny VQ-VAE, vocoder and prior runs trained once per session with distill.train.train.

    Read-only for tests: the prior was trained on the VQ-VAE's codes; all share one sound folder.
    """
    from distill.train import train

    root = tmp_path_factory.mktemp("trained")
    folder = make_sound_folder(root / "sounds", 8, seconds=1.0)
    common = [*SHORT_RUN, f"data.path={folder}", "data=small", f"paths.cache_dir={root / 'cache'}"]
    runs = {"sounds": folder}
    for name, overrides in (
        ("vqvae", TINY_VQVAE),
        ("vocoder", [*TINY_VOCODER, "trainer.max_epochs=1"]),
        ("prior", [*TINY_PRIOR, f"model.vqvae={root / 'vqvae'}"]),
    ):
        train(compose([*overrides, *common], output_dir=root / name))
        runs[name] = root / name
    return runs


# The tests' tiny cell prior (2 levels x 8 rows of 16 codes, a 4-column window), as built by the
# tiny model and written into the tiny library's model files.
TINY_CELL_PRIOR = dict(
    levels=2,
    rows=8,
    codebook_size=16,
    hidden=16,
    layers=1,
    heads=2,
    context_columns=4,
    dropout=0.0,
    depth_hidden=16,
    depth_layers=1,
    depth_heads=2,
)


def package_trained(runs: dict[str, Path], *, name: str, **where):
    """Package the session's three tiny runs as one model (``where``: ``library=`` or ``output=``)."""
    from distill.bundle.package import package_runs

    return package_runs(vqvae=runs["vqvae"], prior=runs["prior"], vocoder=runs["vocoder"], name=name, **where)


def tiny_rvqvae(
    *, levels: int = 2, codebook_size: int = 16, seed: int = 0, texture: float = 0.0, pitch_head: int = 0
):
    """A debug-size RVQ-VAE (8-dim latent) with k-means-initialised codebooks, in eval mode; with
    ``texture`` > 0 its decoder has a texture head and decoding draws it (else: as before the head);
    with ``pitch_head`` > 0 its codes carry the pitch (a head of that width; else: as before it)."""
    import torch

    from distill.nn.conv_codec import ConvDecoder, ConvEncoder
    from distill.nn.quantizer import ResidualQuantizer
    from distill.nn.vqvae import RVQVAE

    widths = dict(channels=(4, 8, 8, 8, 8), latent_dim=8, blocks_per_stage=1, residual_time_kernel=1)
    torch.manual_seed(seed)
    net = RVQVAE(
        encoder=ConvEncoder(**widths, pitch_input=pitch_head > 0),
        quantizer=ResidualQuantizer(
            dim=8,
            num_levels=levels,
            codebook_size=codebook_size,
            decay=0.8,
            commitment_weight=0.25,
            kmeans_iters=2,
            threshold_ema_dead_code=0,
            quantize_dropout=False,
        ),
        decoder=ConvDecoder(**widths, texture_head=texture > 0, pitch_head_channels=pitch_head),
        texture=texture,
    )
    net.train()(torch.randn(4, 128, 64) * 2 - 6)  # a train-mode forward runs the k-means init
    return net.eval()


@pytest.fixture
def shared_folder():
    """A folder an ordinary user can reach (pytest's tmp_path sits under a root-only folder), with
    a home of theirs in it."""
    folder = Path(tempfile.mkdtemp(prefix="distill-perm-"))
    folder.chmod(0o755)
    (folder / "home").mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# A BigVGAN-v2 of distill's mel (128 bands, hop 512, 44.1 kHz) small enough to build in a test.
TINY_BIGVGAN_CONFIG = {
    "resblock": "1",
    "num_mels": 128,
    "hop_size": 512,
    "sampling_rate": 44100,
    "upsample_rates": [8, 8, 4, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4],
    "upsample_initial_channel": 16,  # must be >= 2 ** (number of upsample layers)
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "activation": "snakebeta",
    "snake_logscale": True,
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
}


def make_tiny_bigvgan(folder: Path) -> Path:
    """A BigVGAN folder (config.json + bigvgan_generator.pt) as ``vocoder download`` leaves one."""
    import torch
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    torch.manual_seed(0)
    BigVGAN(AttrDict(TINY_BIGVGAN_CONFIG), use_cuda_kernel=False).save_pretrained(folder)
    return folder
