"""One sound between two models: model A's generation moved towards model B.

Both kinds meet in the mel, the one representation every distill model shares (docs/DESIGN.md):

- ``mix``: A and B each generate with the same settings and seed; the blend is the log-mel
  (1 - w) x A's + w x B's, so the sound moves from A's world to B's as the weight goes 0 -> 1. Its
  length moves from A's sound's to B's with the weight at the end.
- ``resynth``: B's RVQ-VAE encodes A's generated sound and decodes it with B's codes: "A's gestures
  in B's sound". The weight moves from A's own mel (0) to that resynthesis (1).

The weight is one number, or a curve over the sound's length (``0:0,1:1`` fades from A to B). The
blended mel is rendered by both models' vocoders, crossfaded by the same weight, so each side of
the blend sounds through the vocoder trained on its own sound. Everything follows from the two
model files, the settings and the seed, so the sidecar (which records both models) remakes the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from distill.audio.mel import MelConfig, silence_frame
from distill.errors import UserError
from distill.generation.export import Audio
from distill.generation.params import GenerationParams, _is_number

if TYPE_CHECKING:
    from distill.generation.pipeline import Generation
    from distill.model import DistillModel

BLEND_KINDS = ("mix", "resynth")


@dataclass(frozen=True, kw_only=True)
class BlendParams:
    """How far towards model B, and in which way (module docstring)."""

    kind: str = "mix"
    weight: float = 0.5  # 0 = model A alone, 1 = model B
    curve: tuple[tuple[float, float], ...] | None = None  # (share of the length, weight) points

    def __post_init__(self) -> None:
        if isinstance(self.curve, list):  # as a sidecar's JSON gives it back
            object.__setattr__(self, "curve", tuple(tuple(point) for point in self.curve))

    def check(self) -> None:
        if self.kind not in BLEND_KINDS:
            raise UserError(f"A blend is one of {', '.join(BLEND_KINDS)}, got {self.kind!r}.")
        if not (_is_number(self.weight) and 0 <= self.weight <= 1):
            raise UserError(f"The blend weight must be in [0, 1] (0 = the first model), got {self.weight}.")
        if self.curve is None:
            return
        points = self.curve
        if (
            len(points) < 2
            or not all(len(point) == 2 and all(_is_number(value) for value in point) for point in points)
            or not all(0 <= time <= 1 and 0 <= weight <= 1 for time, weight in points)
            or any(later[0] <= earlier[0] for earlier, later in zip(points, points[1:], strict=False))
        ):
            raise UserError(
                f"A blend curve is two or more TIME:WEIGHT points, times rising from 0 to 1 and weights in"
                f" [0, 1] (e.g. 0:0,1:1), got {points}."
            )

    def weights(self, frames: int) -> np.ndarray:
        """The weight at each of ``frames`` mel frames [frames] float64."""
        if self.curve is None:
            return np.full(frames, float(self.weight))
        times, values = zip(*self.curve, strict=True)
        return np.interp(np.linspace(0.0, 1.0, frames), times, values)


def parse_curve(text: str) -> tuple[tuple[float, float], ...]:
    """``--curve 0:0,0.5:1,1:0`` as (time, weight) points; a UserError when it is not that."""
    try:
        return tuple(
            (float(time), float(weight)) for time, weight in (part.split(":") for part in text.split(","))
        )
    except ValueError:
        raise UserError(
            f"--curve takes TIME:WEIGHT points separated by commas (e.g. 0:0,1:1), got {text!r}."
        ) from None


def blend(
    first: DistillModel,
    second: DistillModel,
    params: GenerationParams | None = None,
    *,
    weight: float = 0.5,
    curve: Sequence[Sequence[float]] | None = None,
    how: str = "mix",
    **settings: Any,
) -> Generation:
    """A sound between ``first`` (weight 0) and ``second`` (1), as ``distill blend`` makes it:
    ``blend(drums, piano, weight=0.3, seed=2).audio.save("x.wav")``. ``curve``: (time share,
    weight) points over the sound's length; ``settings``: fields of ``GenerationParams``."""
    points = None if curve is None else tuple(tuple(point) for point in curve)
    settings_made = replace(params or GenerationParams(), **settings)
    return run_blend(first, second, settings_made, BlendParams(kind=how, weight=weight, curve=points))


def run_blend(
    first: DistillModel,
    second: DistillModel,
    params: GenerationParams,
    blend: BlendParams,
    *,
    on_stage: Callable[[str], None] | None = None,
) -> Generation:
    """A sound of ``first`` moved towards ``second`` (module docstring); its metadata records both."""
    from distill.generation.pipeline import fade_out

    blend.check()
    params.check()
    if params.spatial:
        raise UserError("A blend is written mono; leave out --stereo, --pan and --binaural.")
    if first.mel_config != second.mel_config:
        raise UserError(
            f"{first.name} and {second.name} work on different mels ({first.mel_config} against"
            f" {second.mel_config}), so there is no shared space to blend them in."
        )
    made = first.generate(params, on_stage=on_stage)
    mel_first = made.mel
    length = len(made.audio.samples)
    if blend.kind == "mix":
        other = second.generate(made.params)  # the same resolved mode, length and seed
        mel_second = other.mel
        # As long as A's sound at weight 0 and B's at 1: the weight at the end decides.
        length += round(blend.weights(2)[-1] * (len(other.audio.samples) - length))
    else:
        grid = second.encode(made.audio.samples)
        mel_second = second.decode(
            grid,
            window_columns=params.decode_window_columns,
            overlap=params.overlap,
            texture_seed=params.seed,
        )
    frames = max(mel_first.shape[-1], mel_second.shape[-1])
    weights = blend.weights(frames)
    per_frame = torch.from_numpy(weights).to(mel_first.dtype)
    padded = [_padded(one, frames, first.mel_config) for one in (mel_first, mel_second)]
    mel = (1 - per_frame) * padded[0] + per_frame * padded[1]
    through_first = first.vocode(mel, made.params.vocoder)
    through_second = second.vocode(mel, made.params.vocoder)
    hop = first.mel_config.hop_length
    per_sample = np.repeat(weights, hop)[:length]
    samples = (1 - per_sample) * through_first.samples[:length] + per_sample * through_second.samples[:length]
    if made.params.mode == "one-shot":
        samples = fade_out(samples, hop * first.vqvae.frames_per_column)
    metadata = {
        **made.audio.metadata,
        "blend": {
            **asdict(blend),
            "second": second.file_record(),
            "second_vocoder_used": through_second.metadata["vocoder_used"],
        },
        "warnings": through_first.metadata["warnings"] + through_second.metadata["warnings"],
    }
    audio = Audio(samples=samples.astype(np.float32), sample_rate=made.audio.sample_rate, metadata=metadata)
    return replace(made, audio=audio, mel=mel, warnings=list(metadata["warnings"]))


def _padded(mel: torch.Tensor, frames: int, config: MelConfig) -> torch.Tensor:
    """``mel`` [n_mels, T] continued with silence to ``frames`` frames."""
    missing = frames - mel.shape[-1]
    if missing <= 0:
        return mel
    silence = silence_frame(config).to(mel.dtype)[:, None].expand(-1, missing)
    return torch.cat([mel, silence], dim=-1)
