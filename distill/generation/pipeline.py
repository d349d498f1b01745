"""New sounds from a model: prior samples codes -> RVQ-VAE decodes a mel -> vocoder renders audio.

Every stage works in windows (the prior's sliding KV-cache window, windowed decoding, chunked
vocoding), so memory does not grow with the duration asked for. All randomness comes from the
seed, so the same model, parameters and seed give the same sound, which is what the sidecar JSON
of an exported file relies on (it records the parameters as resolved: mode and length).

Two modes (``GenerationParams.mode``; the default follows the collection, see
``distill.audio.envelope``): ``one-shot`` samples a new sound from its start until it has decayed
the way the collection's sounds decay, or a maximum length, keeps one quiet column of tail and
fades it out; ``continuous`` samples the duration asked for, from a sound's start, and the prior
may begin new sounds inside it. A prompt is continued in either mode.

With controls asked (``controls``), ``candidates`` sounds are drawn as one batch and the one
measured nearest the request is kept, a one-shot tuned to a note asked for, rendered at it by the
decoder or played at another rate (``distill.generation.candidates``); the sidecar records what
was measured and how it was tuned.

Stereo (``stereo``, ``pan``, ``binaural``; ``distill.audio.spatial``) is made from the mono sound
after rendering. A width draws every code level but the first again, with the first (coarse) kept,
from a seed derived from the sound's own, and renders that grid as the variation whose difference
to the sound is the side; the sound's mel and grid stay the mono rendering's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from distill.audio.control_space import ControlSpace
from distill.audio.envelope import CollectionShape
from distill.audio.mel import MelConfig
from distill.audio.spatial import binaural, pan, read_sofa, widen
from distill.codes.convert import columns_for, frames_for
from distill.codes.grid import CodeGrid
from distill.codes.sampling import sample
from distill.errors import UserError
from distill.generation.candidates import choose, decoder_pitch_hz, measure, retune
from distill.generation.drawing import (
    Drawn,
    DrawRequest,
    draw_batch,
    draw_one,
    stereo_seed,
    variation_seed,
)
from distill.generation.export import Audio
from distill.generation.params import (
    CONTINUOUS_DURATION_S,
    DEFAULT_CANDIDATES,
    MAX_DURATION_S,
    NOTE_CANDIDATES,
    GenerationParams,
)
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE
from distill.vocoders.selection import VocoderSelection

PRIOR_HINT = "train one with `distill train-prior --vqvae <its VQ-VAE run>`, then package it with the VQ-VAE"


class GenerativeModel(Protocol):
    """What generation needs of a model (``distill.model.DistillModel`` is one; its ``generate``
    runs ``run_generation`` on itself)."""

    name: str
    id: str
    vqvae: RVQVAE
    prior: TokenPrior | None
    mel_config: MelConfig
    sounds: CollectionShape | None  # the collection's lengths and decay, recorded with the prior
    controls: ControlSpace | None  # what the prior's controls mean; None: it has none

    def select_vocoder(self, choice: str = "auto") -> VocoderSelection: ...
    def encode(self, audio: str | Path) -> CodeGrid: ...
    def grid(self, codes: torch.Tensor, n_frames: int | None = None) -> CodeGrid: ...
    def decode(
        self,
        grid: CodeGrid,
        *,
        window_columns: int,
        overlap: float,
        texture_seed: int = 0,
        pitch_hz: float | None = None,
    ) -> torch.Tensor: ...
    def vocode(self, mel: torch.Tensor, vocoder: str = "auto") -> Audio: ...


@dataclass(frozen=True, kw_only=True)
class Generation:
    """A generated sound with what made it: codes, mel and the time each stage took."""

    audio: Audio
    params: GenerationParams  # as resolved: the mode and length actually used
    grid: CodeGrid  # the prompt's columns (if any) then the sampled ones
    mel: torch.Tensor  # [n_mels, frames] what the vocoder rendered
    vocoder: VocoderSelection  # which vocoder rendered it, and why
    warnings: list[str]  # e.g. the audio is near-silent (it is written all the same, and flagged)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _prompt_codes(model: GenerativeModel, prompt: str) -> torch.Tensor:
    """The prompt's whole columns [Q, R, C_p]; a trailing partial column would hold padding, not sound."""
    grid = model.encode(prompt)
    whole = grid.n_frames // grid.frames_per_column
    if whole < 1:
        raise UserError(
            f"Prompt {prompt} is shorter than one code column ({grid.column_seconds:.2f} s); give a longer clip."
        )
    return grid.codes[..., :whole]


def resolve(model: GenerativeModel, params: GenerationParams) -> GenerationParams:
    """``params`` with the mode and length filled in: what makes the sound, and what the sidecar keeps."""
    shape = model.sounds
    mode = params.mode or (shape.default_mode if shape is not None else "continuous")
    if mode == "one-shot" and shape is None:
        raise UserError(
            f"Model {model.name} records no collection shape, which one-shot generation needs (its prior"
            " was trained before distill recorded one); use --mode continuous, or retrain the prior."
        )
    duration = params.duration_s
    if duration is None:
        duration = (
            CONTINUOUS_DURATION_S
            if mode == "continuous"
            else min(max(1.5 * shape.max_s, 1.0), MAX_DURATION_S)
        )
    candidates = params.candidates or (
        NOTE_CANDIDATES if "pitch" in params.controls else DEFAULT_CANDIDATES if params.controls else 1
    )
    return replace(params, mode=mode, duration_s=round(float(duration), 3), candidates=candidates)


def run_generation(
    model: GenerativeModel,
    params: GenerationParams,
    *,
    on_stage: Callable[[str], None] | None = None,
) -> Generation:
    """Generate one sound: after the prompt's whole columns if any, ``params.duration_s`` seconds
    (continuous) or until it has decayed, at most that long (one-shot).

    ``on_stage(name)`` is called as each stage in ``STAGES`` starts (progress bars).
    """
    params.check()
    if model.prior is None:
        raise UserError(f"Model {model.name} has no prior, so it cannot generate; {PRIOR_HINT}.")
    params = resolve(model, params)
    one_shot = params.mode == "one-shot"
    mel_config = model.mel_config
    selection = model.select_vocoder(params.vocoder)  # before sampling: a missing vocoder fails at once
    hrir = None
    if params.binaural is not None:  # a bad HRTF file fails before sampling too
        hrir = read_sofa(params.hrtf)
        if params.hrtf_sha256 is not None and params.hrtf_sha256 != hrir.sha256:
            raise UserError(
                f"The HRTF file {params.hrtf} is not the one this sound was made with (its contents changed);"
                " give the original file to make the sound again."
            )
        params = replace(params, hrtf=str(Path(params.hrtf).expanduser().resolve()), hrtf_sha256=hrir.sha256)
    controls = requested_controls(model, params)
    timings: dict[str, float] = {}

    def stage(name: str) -> float:
        if on_stage is not None:
            on_stage(name)
        return time.perf_counter()

    started = stage("prior")
    prompt = _prompt_codes(model, params.prompt) if params.prompt else None
    prompt_columns = 0 if prompt is None else prompt.shape[-1]
    per_column = model.vqvae.frames_per_column
    new_frames = frames_for(params.duration_s, mel_config)
    request = DrawRequest(
        prior=model.prior,
        vqvae=model.vqvae,
        shape=model.sounds,
        one_shot=one_shot,
        n_columns=columns_for(new_frames, per_column),
        new_frames=new_frames,
        temperature=params.temperature,
        top_k=params.top_k,
        top_p=params.top_p,
        prompt=prompt,
        controls=controls,
        guidance=params.guidance,
    )
    if params.candidates == 1:
        drawn = [draw_one(request, params.seed)]
    else:
        drawn = draw_batch(request, params.seed, params.candidates)
    window = dict(
        window_columns=params.decode_window_columns, overlap=params.overlap, texture_seed=params.seed
    )
    prompt_samples = prompt_columns * per_column * mel_config.hop_length
    new_samples = round(params.duration_s * mel_config.sample_rate)

    def trimmed(rendering: np.ndarray, draw: Drawn, semitones: float = 0.0) -> np.ndarray:
        length = prompt_samples + new_samples
        if one_shot:
            length = min(length, prompt_samples + draw.new_frames * mel_config.hop_length)
        kept = rendering[:length]
        if not one_shot:
            return kept
        return retune(fade_out(kept, per_column * mel_config.hop_length), semitones, mel_config.sample_rate)

    def grid_of(draw: Drawn) -> CodeGrid:
        return model.grid(draw.codes, prompt_columns * per_column + draw.new_frames)

    choice = None
    last_measured = None  # (mel, rendering) of the last draw measured: kept, it is not made again
    if controls is not None:  # each draw measured as the training takes were; the nearest kept
        described = []
        for draw in drawn:  # one at a time: a long sound's draws are never all in memory
            mel = model.decode(grid_of(draw), **window)
            last_measured = (mel, model.vocode(mel, params.vocoder))
            described.append(measure(trimmed(last_measured[1].samples, draw)[prompt_samples:], mel_config))
        choice = choose(model.controls, controls.numpy(), described, [draw.silent_start for draw in drawn])
    kept = drawn[0 if choice is None else choice.index]
    codes, grid = kept.codes, grid_of(kept)
    reuse = choice is not None and choice.index == len(drawn) - 1
    if params.variation:  # the same sound's coarse level, its finer levels drawn again
        fine_seed = variation_seed(params.seed, params.variation)
        codes = _fine_variation(model.prior, params, codes, prompt_columns, controls, seed=fine_seed)
        grid, reuse = model.grid(codes, grid.n_frames), False
    timings["prior"] = time.perf_counter() - started  # with the draws' measuring, when chosen among

    # Only a one-shot is tuned to a note asked (a continuous stream keeps the duration asked for and
    # may hold several sounds): by the decoder where it reaches the note, else by rate.
    pitch_hz = None
    if choice is not None and one_shot and params.tuning == "decoder":
        pitch_hz = decoder_pitch_hz(model.controls, controls.numpy(), model.vqvae.decoder.pitch_range)
    if pitch_hz is not None:
        choice, reuse = replace(choice, retune_semitones=0.0, rendered_hz=pitch_hz), False
        window["pitch_hz"] = pitch_hz
    started = stage("decode")
    mel = last_measured[0] if reuse else model.decode(grid, **window)
    timings["decode"] = time.perf_counter() - started

    started = stage("vocoder")
    rendered = last_measured[1] if reuse else model.vocode(mel, params.vocoder)  # grid.n_frames x hop
    semitones = choice.retune_semitones if choice is not None and one_shot else 0.0
    samples = trimmed(rendered.samples, kept, semitones)
    if params.stereo > 0:  # a second rendering, the coarse level kept and the finer ones drawn again
        fine_seed = stereo_seed(params.seed)
        side = _fine_variation(model.prior, params, codes, prompt_columns, controls, seed=fine_seed)
        second_mel = model.decode(model.grid(side, grid.n_frames), **window)
        second = trimmed(model.vocode(second_mel, params.vocoder).samples, kept, semitones)
        samples = widen(samples, second, params.stereo)
    if params.pan != 0:
        samples = pan(samples, params.pan)
    if hrir is not None:
        samples = binaural(samples, hrir, *params.binaural, mel_config.sample_rate)
    timings["vocoder"] = time.perf_counter() - started
    warnings = list(rendered.metadata["warnings"])

    metadata = {
        **rendered.metadata,
        "generation": asdict(params),
        "prompt_seconds": prompt_samples / mel_config.sample_rate,
        **(
            {}
            if choice is None
            else {"controls_chosen": choice.record(model.controls, list(params.controls))}
        ),
        "versions": _versions(),
    }
    audio = Audio(samples=samples, sample_rate=mel_config.sample_rate, metadata=metadata)
    return Generation(
        audio=audio,
        params=params,
        grid=grid,
        mel=mel,
        vocoder=selection,
        warnings=warnings,
        stage_seconds=timings,
    )


def _fine_variation(
    prior: TokenPrior,
    params: GenerationParams,
    codes: torch.Tensor,
    prompt_columns: int,
    controls: torch.Tensor | None,
    *,
    seed: int,
) -> torch.Tensor:
    """``codes`` [Q, R, C] with the new columns' levels below the first drawn again, the first (coarse)
    level kept: the same sound (envelope, partials, syllables) with other detail: the second side of
    a stereo pair, or a variation of the sound. Measured at width 1 on a piano and a speech model (4 seeds each), keeping level 0
    puts the side 8 dB below the mid (left/right correlation 0.75), keeping levels 0-1 17 and 16 dB
    below (0.96, 0.95): hardly wider than mono."""
    fixed = codes[..., prompt_columns:].clone()
    fixed[1:] = -1
    return sample(
        prior,
        n_columns=fixed.shape[-1],
        temperature=params.temperature,
        top_k=params.top_k,
        top_p=params.top_p,
        seed=seed,
        prompt=codes[..., :prompt_columns] if prompt_columns else None,
        file_start=prompt_columns == 0,
        fixed=fixed,
        controls=controls,
        guidance=params.guidance,
    )


def requested_controls(model: GenerativeModel, params: GenerationParams) -> torch.Tensor | None:
    """What the prior is asked for, [controls] relative values (NaN: not asked), or None when
    nothing is asked; a UserError when the model cannot honour the request."""
    if not params.controls:
        return None
    space = model.controls
    if space is None:
        asked = ", ".join(f"--{name}" for name in params.controls)
        raise UserError(
            f"Model {model.name} was trained without controls, so it cannot take {asked}; retrain its prior"
            " (distill train-prior) to get them."
        )
    return torch.tensor(space.request(params.controls, model=model.name), dtype=torch.float32)


def fade_out(samples: np.ndarray, length: int) -> np.ndarray:
    """A half-cosine fade over the last ``length`` samples: a one-shot ends without a click."""
    length = min(length, len(samples))
    faded = samples.copy()
    if length:
        faded[-length:] *= (0.5 * (1 + np.cos(np.linspace(0.0, np.pi, length)))).astype(samples.dtype)
    return faded


def params_from_metadata(metadata: dict) -> GenerationParams:
    """The parameters recorded in a generated sound's metadata (sidecar JSON), to make it again."""
    try:
        recorded = dict(metadata["generation"])
        # Made before draws were chosen among: it was one draw, whatever it asked.
        recorded.setdefault("candidates", 1)
        # Made before the decoder rendered notes: a note asked was tuned by rate.
        recorded.setdefault("tuning", "rate")
        return GenerationParams(**recorded)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"These metadata hold no usable generation parameters ({error}).") from None


def _versions() -> dict[str, str]:
    import distill

    return {"distill": distill.__version__, "torch": torch.__version__}
