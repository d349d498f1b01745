"""The sounds a report plays: a few generated ones and a few held-out files reconstructed.

Made through the public way in and out of a model (``DistillModel.encode``, ``decode`` + ``vocode``
= ``render``, and the generation pipeline ``generate`` runs), seeded, so the same model gives the
same page. Every clip is at most ``max_seconds`` long: the page embeds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, kw_only=True)
class SoundClip:
    """A sound with its mel and its code grid, as the page shows it."""

    title: str
    caption: str
    mel: np.ndarray  # [n_mels, T] log-mel
    codes: np.ndarray  # [Q, R, C] code indices
    frames_per_column: int
    codebook_size: int
    sample_rate: int
    audio: np.ndarray | None  # [N] what the model made; None where there is no vocoder to render it
    original: np.ndarray | None = None  # [N] the recording itself (reconstructions)


@dataclass(frozen=True)
class HeldOutFile:
    name: str  # as listed in the dataset summary (relative to its root)
    samples: np.ndarray  # [N] mono at the model's rate, at most max_seconds


def held_out_files(
    dataset: dict, *, sample_rate: int, count: int, max_seconds: float
) -> tuple[list[HeldOutFile], list[str]]:
    """The first ``count`` readable validation files of a dataset summary (``root`` +
    ``val_files``), and sentences for the reader about those that could not be used."""
    from distill.audio.io import UnusableAudioError, load_audio

    listed = list(dataset.get("val_files") or [])
    root = Path(dataset.get("root") or ".").expanduser()
    if not listed:
        return [], ["The collection had no held-out files, so there is nothing to reconstruct."]
    found, missing = [], 0
    for name in listed:
        if len(found) == count:
            break
        path = root / name
        if not path.is_file():
            missing += 1
            continue
        try:
            samples = load_audio(path, sample_rate=sample_rate).samples
        except UnusableAudioError:
            missing += 1
            continue
        found.append(HeldOutFile(name, np.asarray(samples[: round(max_seconds * sample_rate)], np.float32)))
    notes = []
    if not found:
        notes.append(
            f"The {len(listed)} held-out file(s) listed under {root} are no longer on disk (or unreadable),"
            " so no reconstructions are shown."
        )
    elif missing:
        notes.append(f"{missing} held-out file(s) listed under {root} were not found and were skipped.")
    return found, notes


def generated_clips(model, *, count: int, seed: int, max_seconds: float) -> tuple[list[SoundClip], list[str]]:
    """``count`` new sounds, seeds ``seed`` .. ``seed + count - 1``, in the model's default mode."""
    from distill.errors import UserError
    from distill.generation.params import GenerationParams
    from distill.generation.pipeline import run_generation

    if model.prior is None:
        return [], ["This model has no prior, so it cannot generate sounds."]
    clips = []
    for index in range(count):
        try:
            result = run_generation(model, GenerationParams(seed=seed + index))
        except UserError as error:
            return clips, [str(error)]
        clips.append(
            SoundClip(
                title=f"generated, seed {seed + index}",
                caption=f"{result.params.mode}, {result.audio.duration_s:.2f} s, rendered by"
                f" {result.vocoder.vocoder.description}",
                mel=result.mel.cpu().numpy(),
                codes=result.grid.codes.numpy(),
                frames_per_column=result.grid.frames_per_column,
                codebook_size=model.vqvae.quantizer.codebook_size,
                sample_rate=result.audio.sample_rate,
                audio=result.audio.samples[: round(max_seconds * result.audio.sample_rate)],
            )
        )
    return clips, []


def reconstruction_clips(model, *, count: int, max_seconds: float) -> tuple[list[SoundClip], list[str]]:
    """Held-out files through the model: audio -> codes -> mel -> audio (``render``'s two steps,
    kept apart so the page can show the mel too)."""
    from distill.errors import UserError

    rate = model.mel_config.sample_rate
    files, notes = held_out_files(
        model.metadata.get("dataset") or {}, sample_rate=rate, count=count, max_seconds=max_seconds
    )
    clips = []
    for held in files:
        grid = model.encode(held.samples)
        mel = model.decode(grid)
        try:
            audio = model.vocode(mel).samples
        except UserError as error:  # no vocoder: the mel still shows what the codes hold
            audio = None
            if not notes or notes[-1] != str(error):
                notes.append(f"{error} The reconstructions are shown as mels only.")
        clips.append(
            SoundClip(
                title=f"held-out {held.name}",
                caption=f"{len(held.samples) / rate:.2f} s: the recording, then its reconstruction",
                mel=mel.cpu().numpy(),
                codes=grid.codes.numpy(),
                frames_per_column=grid.frames_per_column,
                codebook_size=model.vqvae.quantizer.codebook_size,
                sample_rate=rate,
                audio=audio,
                original=held.samples,
            )
        )
    return clips, notes


def run_reconstruction_clips(
    run_dir: Path, dataset: dict, *, count: int, max_seconds: float
) -> tuple[list[SoundClip], list[str]]:
    """A VQ-VAE run's held-out files through its codes, as mels: a VQ-VAE run has no vocoder."""
    import torch
    from omegaconf import OmegaConf

    from distill.bundle.build import mel_config_of
    from distill.codes.convert import decode_windowed, encode_windowed
    from distill.generation.params import GenerationParams
    from distill.models.loading import load_vqvae_net
    from distill.runs import read_run_config

    config = OmegaConf.to_container(read_run_config(run_dir), resolve=False)
    mel_config = mel_config_of(run_dir, "vqvae", config)
    files, notes = held_out_files(
        dataset, sample_rate=mel_config.sample_rate, count=count, max_seconds=max_seconds
    )
    if not files:
        return [], notes
    net = load_vqvae_net(run_dir)
    clips = []
    for held in files:
        codes, n_frames = encode_windowed(net, torch.from_numpy(held.samples), mel_config)
        # Decoded in the windows generation uses, so the mel is the one a model file would render.
        mel = decode_windowed(
            net,
            codes,
            n_frames=n_frames,
            window_columns=GenerationParams.decode_window_columns,
            overlap=GenerationParams.overlap,
        )
        clips.append(
            SoundClip(
                title=f"held-out {held.name}",
                caption=f"{len(held.samples) / mel_config.sample_rate:.2f} s: the recording, and the mel its codes decode to",
                mel=mel.cpu().numpy(),
                codes=codes.cpu().numpy(),
                frames_per_column=net.frames_per_column,
                codebook_size=net.quantizer.codebook_size,
                sample_rate=mel_config.sample_rate,
                audio=None,
                original=held.samples,
            )
        )
    notes.append("A VQ-VAE run has no vocoder: its reconstructions are shown as mels only.")
    return clips, notes
