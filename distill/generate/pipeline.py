"""New sounds from a model: prior samples codes -> RVQ-VAE decodes a mel -> vocoder renders audio.

Every stage works in windows (the prior's sliding KV-cache window, windowed decoding, chunked
vocoding), so memory does not grow with the duration asked for. All randomness comes from the
seed, so the same model, parameters and seed give the same sound, which is what the sidecar JSON
of an exported file relies on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from distill.audio.io import UnusableAudioError, load_audio
from distill.audio.level import not_sound, remove_dc
from distill.audio.mel import MelConfig
from distill.codes.convert import columns_for, decode_windowed, encode_audio, frames_for
from distill.errors import UserError
from distill.generate.export import Audio
from distill.generate.params import GenerationParams
from distill.generate.sampling import sample
from distill.nn.conv_codec import DOWNSAMPLE
from distill.nn.prior import CodePrior
from distill.nn.vqvae import RVQVAE
from distill.vocoders.selection import VocoderSelection

PRIOR_HINT = "train one with `distill train-prior --vqvae <its VQ-VAE run>`, then package it with the VQ-VAE"


class GenerativeModel(Protocol):
    """What generation needs of a model (``distill.bundle.model.DistillModel`` is one)."""

    name: str
    id: str
    vqvae: RVQVAE
    prior: CodePrior | None
    mel_config: MelConfig

    def select_vocoder(self, choice: str = "auto") -> VocoderSelection: ...


@dataclass(frozen=True, kw_only=True)
class Generation:
    """A generated sound with what made it: codes, mel and the time each stage took."""

    audio: Audio
    codes: torch.Tensor  # [Q, R, C] the prompt's columns (if any) then the sampled ones
    mel: torch.Tensor  # [n_mels, frames] what the vocoder rendered
    vocoder: VocoderSelection  # which vocoder rendered it, and why
    warnings: list[str]  # e.g. the audio is near-silent (it is written all the same, and flagged)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _prompt_codes(model: GenerativeModel, prompt: str) -> torch.Tensor:
    """The prompt's whole columns [Q, R, C_p]; a trailing partial column would hold padding, not sound."""
    try:
        loaded = load_audio(Path(prompt).expanduser(), sample_rate=model.mel_config.sample_rate)
    except UnusableAudioError as error:
        raise UserError(f"Prompt {prompt} cannot be used: {error.reason}; give another clip.") from None
    codes = encode_audio(model.vqvae, torch.from_numpy(loaded.samples), model.mel_config)
    whole = len(loaded.samples) // (model.mel_config.hop_length * DOWNSAMPLE)
    if whole < 1:
        raise UserError(f"Prompt {prompt} is shorter than one code column (0.19 s); give a longer clip.")
    return codes[..., :whole]


def run_generation(
    model: GenerativeModel,
    params: GenerationParams,
    *,
    on_stage: Callable[[str], None] | None = None,
) -> Generation:
    """Generate one sound: ``params.duration_s`` seconds, after the prompt's whole columns if any.

    ``on_stage(name)`` is called as each stage in ``STAGES`` starts (progress bars).
    """
    params.check()
    if model.prior is None:
        raise UserError(f"Model {model.name} has no prior, so it cannot generate; {PRIOR_HINT}.")
    mel_config = model.mel_config
    selection = model.select_vocoder(params.vocoder)  # before sampling: a missing vocoder fails at once
    timings: dict[str, float] = {}

    def stage(name: str) -> float:
        if on_stage is not None:
            on_stage(name)
        return time.perf_counter()

    started = stage("prior")
    prompt = _prompt_codes(model, params.prompt) if params.prompt else None
    prompt_columns = 0 if prompt is None else prompt.shape[-1]
    new_frames = frames_for(params.duration_s, mel_config)
    codes = sample(
        model.prior,
        n_columns=columns_for(new_frames),
        temperature=params.temperature,
        top_k=params.top_k,
        top_p=params.top_p,
        seed=params.seed,
        prompt=prompt,
    )
    timings["prior"] = time.perf_counter() - started

    started = stage("decode")
    n_frames = prompt_columns * DOWNSAMPLE + new_frames
    mel = decode_windowed(
        model.vqvae,
        codes,
        n_frames=n_frames,
        window_columns=params.decode_window_columns,
        overlap=params.overlap,
    )
    timings["decode"] = time.perf_counter() - started

    started = stage("vocoder")
    with torch.inference_mode():
        wave = selection.vocoder(mel[None])[0, 0]  # [n_frames * hop]
    prompt_samples = prompt_columns * DOWNSAMPLE * mel_config.hop_length
    n_samples = prompt_samples + round(params.duration_s * mel_config.sample_rate)
    rendered = wave[:n_samples].float().cpu().numpy()
    problem = not_sound(rendered)
    samples = remove_dc(rendered, mel_config.sample_rate)
    timings["vocoder"] = time.perf_counter() - started
    warnings = []
    if problem is not None:
        warnings.append(
            f"the rendered audio is {problem}: {selection.vocoder.description} made no sound from this"
            " mel; check the model's vocoder quality (distill models info) or try --vocoder bigvgan."
        )

    metadata = {
        "model": {"id": model.id, "name": model.name},
        "generation": asdict(params),
        "vocoder_used": {"kind": selection.vocoder.kind, "why": selection.reason},
        "prompt_seconds": prompt_samples / mel_config.sample_rate,
        "warnings": warnings,
        "versions": _versions(),
    }
    audio = Audio(samples=samples, sample_rate=mel_config.sample_rate, metadata=metadata)
    return Generation(
        audio=audio, codes=codes, mel=mel, vocoder=selection, warnings=warnings, stage_seconds=timings
    )


def generate(
    model: GenerativeModel,
    duration_s: float,
    *,
    temperature: float = GenerationParams.temperature,
    top_k: int = GenerationParams.top_k,
    top_p: float = GenerationParams.top_p,
    seed: int = GenerationParams.seed,
    vocoder: str = GenerationParams.vocoder,
    overlap: float = GenerationParams.overlap,
    prompt_audio: str | Path | None = None,
) -> Audio:
    """``duration_s`` seconds of new sound from ``model`` (see :func:`run_generation` for the details)."""
    params = GenerationParams(
        duration_s=duration_s,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        vocoder=vocoder,
        overlap=overlap,
        prompt=None if prompt_audio is None else str(prompt_audio),
    )
    return run_generation(model, params).audio


def params_from_metadata(metadata: dict) -> GenerationParams:
    """The parameters recorded in a generated sound's metadata (sidecar JSON), to make it again."""
    try:
        return GenerationParams(**metadata["generation"])
    except (KeyError, TypeError) as error:
        raise UserError(f"These metadata hold no usable generation parameters ({error}).") from None


def _versions() -> dict[str, str]:
    import distill

    return {"distill": distill.__version__, "torch": torch.__version__}
