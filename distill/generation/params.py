"""What decides a generated sound, checked before anything heavy loads (no torch import here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from distill.audio.control_space import DESCRIPTORS
from distill.errors import UserError
from distill.files import file_exists
from distill.vocoders.choice import VocoderChoice

STAGES = ("prior", "decode", "vocoder")
MAX_DURATION_S = 3600.0
# one-shot: a new sound from its start until it has decayed (or a maximum length), tail trimmed
# and faded; continuous: a stream of the asked duration in which new sounds may begin.
MODES = ("one-shot", "continuous")
CONTINUOUS_DURATION_S = 4.0  # continuous mode's length when none is asked for
SEED_LIMIT = 2**63  # seeds are torch's: a signed 64-bit integer
MAX_GUIDANCE = 10.0  # beyond it the guided logits leave anything the prior learned
# With controls asked, this many sounds are drawn (as one batch) and the one measured nearest
# the request is kept (distill.generation.candidates). A note asked for draws more: it must land
# within a few semitones of the key to be tuned to it, and a 15-minute piano prior's 8 draws did
# for 2 of 13 keys, its 32 for all but the highest (experiments/control_sweep.py --notes).
DEFAULT_CANDIDATES = 8
NOTE_CANDIDATES = 32
MAX_CANDIDATES = 64
MAX_VARIATION = 1_000_000
TUNINGS = ("decoder", "rate")  # how a one-shot reaches a note asked (GenerationParams.tuning)


@dataclass(frozen=True, kw_only=True)
class GenerationParams:
    """Everything that decides a generated sound; the defaults are the CLI's defaults."""

    mode: str | None = None  # one-shot | continuous; None = what the model's collection suggests
    # continuous: seconds to generate (None = CONTINUOUS_DURATION_S); one-shot: the longest a
    # sound may run before it is cut (None = 1.5 x the collection's longest file).
    duration_s: float | None = None
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 0.95
    seed: int = 0
    vocoder: str = "auto"  # auto | bundled | bigvgan
    overlap: float = 0.1  # share of a decoding window crossfaded with the next
    decode_window_columns: int = 64  # 64 columns = 11.9 s of mel per decoding window
    prompt: str | None = None  # audio file the sound continues from
    # Stereo placement (distill.audio.spatial); all off gives a mono file.
    stereo: float = 0.0  # width 0..1 of a second rendering that shares the coarse codes
    pan: float = 0.0  # -1 (left) .. 1 (right); 0 leaves a mono sound mono
    binaural: tuple[float, float] | None = None  # (azimuth, elevation) in degrees, heard through hrtf
    hrtf: str | None = None  # SOFA file of head-related impulse responses
    hrtf_sha256: str | None = None  # of that file, as resolved: a remake refuses another set
    # What the sound should be like (distill.audio.control_space): {control: 0..1 of the
    # collection's range, or a value with its unit such as "-12dB", "C3"}; empty = nothing asked.
    controls: dict[str, float | str] = field(default_factory=dict)
    # How strongly the controls are followed (classifier-free guidance; distill.codes.sampling):
    # 1 = as the prior learned, more = further in the direction they move it (each step runs twice).
    guidance: float = 1.0
    # How many sounds are drawn for a request, the one measured nearest it kept; None = resolved:
    # NOTE_CANDIDATES with a pitch asked, DEFAULT_CANDIDATES with other controls, 1 without
    # (nothing to choose by).
    candidates: int | None = None
    # How a one-shot reaches the note asked (distill.generation.candidates): "decoder" renders the
    # kept draw's codes with that note's harmonics (the RVQ-VAE's pitch head; a note outside its
    # range, or a model without one, falls back to "rate"); "rate" plays the draw faster or slower
    # from the note it measured, up to a major third (a sampler's way; sounds made before the option).
    tuning: str = "decoder"
    # 0: the sound of ``seed``; n > 0: its n-th variation, the same sound's coarse codes (envelope,
    # partials, syllables) with the finer levels drawn again (distill.generation.drawing.variation_seed).
    variation: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.binaural, list):  # as a sidecar's JSON gives it back
            object.__setattr__(self, "binaural", tuple(self.binaural))

    @property
    def spatial(self) -> bool:
        """Whether the sound is written in stereo."""
        return self.stereo > 0 or self.pan != 0 or self.binaural is not None

    def check(self) -> None:
        """Raise a UserError naming the first bad value and what it must be."""
        if self.mode is not None and self.mode not in MODES:
            raise UserError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        if self.duration_s is not None and not (
            _is_number(self.duration_s) and 0 < self.duration_s <= MAX_DURATION_S
        ):
            raise UserError(
                f"duration must be a number of seconds in (0, {MAX_DURATION_S:.0f}], got {self.duration_s}."
            )
        if not (_is_number(self.temperature) and math.isfinite(self.temperature) and self.temperature > 0):
            raise UserError(f"temperature must be a number > 0 (1.0 = as trained), got {self.temperature}.")
        if not (_is_int(self.top_k) and self.top_k >= 0):
            raise UserError(f"top-k must be a whole number >= 0 (0 = off), got {self.top_k}.")
        if not (_is_number(self.top_p) and 0 < self.top_p <= 1):
            raise UserError(f"top-p must be in (0, 1] (1 = off), got {self.top_p}.")
        VocoderChoice.parse(self.vocoder)
        check_seeds(self.seed)
        if not (_is_int(self.variation) and 0 <= self.variation <= MAX_VARIATION):
            raise UserError(
                f"variation must be a whole number from 0 (the sound itself) to {MAX_VARIATION}, got {self.variation}."
            )
        if not (_is_number(self.overlap) and 0 <= self.overlap < 0.5):
            raise UserError(f"overlap must be in [0, 0.5), got {self.overlap}.")
        if not (_is_int(self.decode_window_columns) and self.decode_window_columns >= 4):
            raise UserError(f"decode window must be >= 4 columns, got {self.decode_window_columns}.")
        if self.prompt is not None and not file_exists(Path(self.prompt).expanduser()):
            raise UserError(f"Prompt file {self.prompt} does not exist; check the path.")
        self._check_spatial()
        self._check_controls()

    def _check_controls(self) -> None:
        """Names and value types; whether a model has a control, and the range, are its own check."""
        if not (_is_number(self.guidance) and 0 <= self.guidance <= MAX_GUIDANCE):
            raise UserError(
                f"guidance must be a number from 0 to {MAX_GUIDANCE:g} (1 = as trained), got {self.guidance}."
            )
        if self.candidates is not None and not (
            _is_int(self.candidates) and 1 <= self.candidates <= MAX_CANDIDATES
        ):
            raise UserError(
                f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got {self.candidates}."
            )
        if self.tuning not in TUNINGS:
            raise UserError(f"tuning must be one of {', '.join(TUNINGS)}, got {self.tuning!r}.")
        if not isinstance(self.controls, dict):
            raise UserError(f"controls must be a mapping of control names to values, got {self.controls!r}.")
        for name, value in self.controls.items():
            if name not in DESCRIPTORS:
                raise UserError(f"Unknown control {name!r}; the controls are {', '.join(DESCRIPTORS)}.")
            if not (_is_number(value) or (isinstance(value, str) and value.strip())):
                raise UserError(
                    f"--{name} needs a number from 0 to 1 (the collection's range) or a value with its unit,"
                    f" got {value!r}."
                )
        if (self.candidates or 1) > 1 and not self.controls:
            raise UserError(
                "--candidates chooses among draws by the controls asked; give a control"
                " (--loudness, --brightness, --length, --noisiness or --pitch) or leave it out."
            )

    def _check_spatial(self) -> None:
        if not (_is_number(self.stereo) and 0 <= self.stereo <= 1):
            raise UserError(f"stereo width must be in [0, 1] (0 = mono, 1 = widest), got {self.stereo}.")
        if not (_is_number(self.pan) and -1 <= self.pan <= 1):
            raise UserError(f"pan must be in [-1, 1] (-1 = left, 0 = centre, 1 = right), got {self.pan}.")
        if self.binaural is None:
            if self.hrtf is not None:
                raise UserError(
                    "An HRTF file is only used with --binaural AZIMUTH,ELEVATION; give both or neither."
                )
            return
        if not (
            isinstance(self.binaural, tuple)
            and len(self.binaural) == 2
            and all(_is_number(value) for value in self.binaural)
            and -90 <= self.binaural[1] <= 90
        ):
            raise UserError(
                f"binaural needs AZIMUTH,ELEVATION in degrees with elevation in [-90, 90], got {self.binaural}."
            )
        if self.stereo > 0 or self.pan != 0:
            raise UserError(
                "Binaural rendering places the sound itself; give --binaural without --stereo or --pan."
            )
        if self.hrtf is None:
            raise UserError(
                "--binaural needs --hrtf FILE.sofa, a SOFA file of head-related impulse responses."
            )
        if not file_exists(Path(self.hrtf).expanduser()):
            raise UserError(f"The HRTF file {self.hrtf} does not exist; give a SOFA file (.sofa).")


def batch(
    params: GenerationParams, count: int, *, max_count: int, what: str = "--count"
) -> list[GenerationParams]:
    """``count`` sounds: seeds seed, seed+1, ...; from a variation n > 0, variations n, n+1, ... of
    the sound of ``seed``. Bad values fail here, before a model is loaded."""
    params.check()
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max_count:
        raise UserError(f"{what} must be from 1 to {max_count}, got {count}.")
    if params.variation:
        if params.variation + count - 1 > MAX_VARIATION:
            raise UserError(
                f"variation must be at most {MAX_VARIATION}, got {params.variation + count - 1} (the last of {count})."
            )
        return [replace(params, variation=params.variation + index) for index in range(count)]
    check_seeds(params.seed, count)
    return [replace(params, seed=params.seed + index) for index in range(count)]


def check_seeds(first: int, count: int = 1) -> None:
    """A UserError unless seeds ``first`` .. ``first + count - 1`` are all seeds torch takes."""
    if not (_is_int(first) and -SEED_LIMIT <= first < SEED_LIMIT):
        raise UserError(f"seed must be a whole number from -2^63 to 2^63 - 1, got {first}.")
    last = first + max(count, 1) - 1
    if last >= SEED_LIMIT:
        raise UserError(
            f"seed must be a whole number from -2^63 to 2^63 - 1, got {last} (the last of {count})."
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
