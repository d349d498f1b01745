"""``distill generate``: new sounds from a model in the library (or a .distillgan file), and
``distill generate --from <sidecar>``: the sound a sidecar describes, made again bit for bit.

Each written sound's sidecar records the model file that made it beside the resolved generation
settings and the export settings, so ``--from`` finds that very model
(``distill.generation.remake``) and refuses, in one line, a model that was changed since.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error
from distill.cli.make_sounds import Plan, make_sounds
from distill.errors import UserError
from distill.generation.params import (
    DEFAULT_CANDIDATES,
    NOTE_CANDIDATES,
    GenerationParams,
    batch,
)

DEFAULTS = GenerationParams()
# Sounds one command may ask for: beyond a million, a typo is likelier than a wish (and the list of
# their settings alone would fill memory); a large batch below it is told its cost first.
MAX_COUNT = 1_000_000
# What --from takes besides the sidecar: everything else is the recorded sound's own.
_FROM_ALSO_TAKES = ("output", "plot", "library")


def generate(
    ctx: typer.Context,
    model: str = typer.Argument(
        None, help="Model name or id in the library, or a path to a .distillgan file."
    ),
    mode: str = typer.Option(
        None,
        "--mode",
        help="one-shot (a new sound from its start until it decays) or continuous (a stream of --duration);"
        " default: what the model's collection suggests (one-shot for short recordings).",
    ),
    duration: float = typer.Option(
        None,
        "--duration",
        "-d",
        help="continuous: seconds of new sound (default 4); one-shot: the longest a sound may run"
        " (default 1.5 x the collection's longest file).",
    ),
    temperature: float = typer.Option(
        DEFAULTS.temperature, help="Randomness: 1.0 samples as trained, lower is safer, higher is wilder."
    ),
    top_k: int = typer.Option(
        DEFAULTS.top_k, "--top-k", help="Only the k likeliest codes at each step (0 = off)."
    ),
    top_p: float = typer.Option(
        DEFAULTS.top_p, "--top-p", help="Only the likeliest codes covering this probability (1.0 = off)."
    ),
    seed: int = typer.Option(DEFAULTS.seed, help="Same seed and settings give the same sound."),
    count: int = typer.Option(
        1,
        "--count",
        "-n",
        help="Sounds to write, with seeds seed, seed+1, ... (with --variation n: n, n+1, ...).",
    ),
    variation: int = typer.Option(
        DEFAULTS.variation,
        "--variation",
        help="0: the sound of --seed; n: its n-th variation, the same coarse codes (envelope, partials)"
        " with the finer ones drawn again.",
    ),
    vocoder: str = typer.Option(
        DEFAULTS.vocoder,
        help="auto (the model's own, else BigVGAN), bundled (the model's own) or bigvgan.",
    ),
    overlap: float = typer.Option(
        DEFAULTS.overlap, help="Share of each mel decoding window crossfaded into the next (long sounds)."
    ),
    prompt: Path = typer.Option(None, "--prompt", help="An audio file the new sound continues from."),
    stereo: float = typer.Option(
        DEFAULTS.stereo,
        "--stereo",
        help="Stereo width 0..1: the second side is the sound with its fine codes drawn again"
        " (left + right is mono-safe); 0 = mono.",
    ),
    pan_position: float = typer.Option(
        DEFAULTS.pan,
        "--pan",
        help="Place the sound from -1 (left) through 0 (centre) to 1 (right); writes stereo.",
    ),
    binaural: str = typer.Option(
        None,
        "--binaural",
        help="AZIMUTH,ELEVATION in degrees (azimuth counter-clockwise from the front, e.g. 90,0 = left):"
        " render for headphones through --hrtf.",
    ),
    hrtf: Path = typer.Option(
        None,
        "--hrtf",
        help="A SOFA file (SimpleFreeFieldHRIR) of head-related impulse responses, for --binaural.",
    ),
    loudness: str = typer.Option(
        None, help="How loud: 0..1 of the collection's range (1 = its loudest), or dB, e.g. -12dB."
    ),
    brightness: str = typer.Option(
        None, help="How bright: 0..1 of the collection's range, or a spectral centroid, e.g. 2500Hz."
    ),
    length: str = typer.Option(
        None, help="How long it sounds: 0..1 of the collection's range, or seconds, e.g. 1.5s."
    ),
    noisiness: str = typer.Option(
        None, help="How noisy (0 = the most tonal of the collection, 1 = the noisiest)."
    ),
    pitch: str = typer.Option(
        None, help="Which note: a name (C3, A#4, Bb2), a frequency (220Hz), or 0..1 of the range."
    ),
    guidance: float = typer.Option(
        DEFAULTS.guidance,
        "--guidance",
        help="How strongly the controls are followed: 1 as trained, 4 closer (each step runs twice).",
    ),
    candidates: int = typer.Option(
        None,
        "--candidates",
        help=f"With controls: draw this many sounds (one batch) and keep the one measured nearest the"
        f" request; a note asked for is also tuned to it (default {DEFAULT_CANDIDATES}, with a"
        f" note {NOTE_CANDIDATES}).",
    ),
    tuning: str = typer.Option(
        DEFAULTS.tuning,
        "--tuning",
        help="How a one-shot reaches the note asked: decoder (its codes rendered with that note's"
        " harmonics; keeps its length) or rate (played faster or slower from the note it measured,"
        " as a sampler does).",
    ),
    notes: str = typer.Option(
        None,
        "--notes",
        help="One sound per key of a range, e.g. C2..C5, written to the folder -o (default:"
        " <model>-keys/; or -o keys/piano.wav names them piano-048-C3.wav ...) with an SFZ file"
        " that maps them to their keys.",
    ),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="Output file (default: <model name>.<format> here; with --from, the recorded file's name"
        " beside the sidecar); its suffix sets the format. Missing folders on its path are made.",
    ),
    audio_format: str = typer.Option(
        None, "--format", help="wav, flac or ogg (default: from --output, else wav)."
    ),
    sample_rate: int = typer.Option(48000, "--sample-rate", help="Sample rate of the written file."),
    subtype: str = typer.Option(
        None, "--subtype", help="pcm16, pcm24 or float (WAV); pcm16 or pcm24 (FLAC)."
    ),
    peak: str = typer.Option(
        "limit", help="limit (turn down only if it would clip), normalize (peak to the ceiling) or none."
    ),
    plot: bool = typer.Option(False, "--plot", help="Also save a PNG of each sound's mel and code grid."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
    from_sidecar: Path = typer.Option(
        None,
        "--from",
        help="Make the sound this sidecar (.wav.json, or its audio file) describes again, bit for bit:"
        " the same model file, seed and settings. Takes no MODEL; only -o, --plot and --library.",
    ),
) -> None:
    """Generate new sounds with MODEL and write each with a .json sidecar that can remake it.

    distill generate drums --count 16 -o hits.wav: 16 new hits, hits-00.wav ... hits-15.wav.

    distill generate rain --mode continuous --duration 30: 30 seconds of rain.

    distill generate drums --brightness 0.8 --loudness 0.3: a bright, soft hit.

    distill generate piano --notes C2..C5 -o keys/: a playable sample set with its SFZ.

    distill generate --from hits-03.wav.json -o again.wav: hits-03.wav once more.
    """
    from rich.console import Console

    console = Console(stderr=True)
    with exit_on_user_error():
        if from_sidecar is not None:
            _check_only_output_options(ctx, model)
            plan = _replay_plan(from_sidecar, output, library)
        else:
            if model is None:
                raise UserError("Name a MODEL to generate with, or remake a sound with --from <sidecar>.")
            params = GenerationParams(
                mode=mode,
                duration_s=duration,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                seed=seed,
                vocoder=vocoder,
                overlap=overlap,
                prompt=None if prompt is None else str(prompt.expanduser().resolve()),
                stereo=stereo,
                pan=pan_position,
                binaural=None if binaural is None else _direction(binaural),
                hrtf=None if hrtf is None else str(hrtf.expanduser().resolve()),
                controls=_controls(
                    loudness=loudness, brightness=brightness, length=length, noisiness=noisiness, pitch=pitch
                ),
                guidance=guidance,
                candidates=candidates,
                tuning=tuning,
                variation=variation,
            )
            export = dict(sample_rate=sample_rate, format=audio_format, subtype=subtype, peak=peak)
            if notes is not None:
                plan = _notes_plan(model, params, notes, count=count, output=output, export=export)
            else:
                plan = Plan(model=model, sounds=variations(params, count), output=output, export=export)
        make_sounds(console, plan, library=library, plot=plot)


def variations(params: GenerationParams, count: int) -> list[GenerationParams]:
    """``count`` sounds (``distill.generation.params.batch``), at most ``MAX_COUNT``."""
    return batch(params, count, max_count=MAX_COUNT)


def _controls(**given: str | None) -> dict[str, float | str]:
    """The control options given: a bare number as a number (0..1 of the range), else as written."""
    controls: dict[str, float | str] = {}
    for name, text in given.items():
        if text is None:
            continue
        try:
            controls[name] = float(text)
        except ValueError:
            controls[name] = text.strip()
    return controls


def _notes_plan(
    model: str, params: GenerationParams, notes: str, *, count: int, output: Path | None, export: dict
) -> Plan:
    """--notes: one sound per key of the range, the same seed and settings, each at its own pitch."""
    from distill.audio.control_space import note_name, note_range

    if "pitch" in params.controls:
        raise UserError("Give --notes or --pitch, not both: --notes sets each sound's pitch.")
    if count != 1:
        raise UserError("--notes makes one sound per key; it takes no --count.")
    keys = [round(key) for key in note_range(notes)]
    sounds = [replace(params, controls={**params.controls, "pitch": note_name(key)}) for key in keys]
    for sound in sounds:
        sound.check()
    return Plan(model=model, sounds=sounds, output=output, export=export, keys=keys)


def _direction(text: str) -> tuple[float, float]:
    """``--binaural AZIMUTH,ELEVATION`` as two numbers of degrees."""
    parts = text.split(",")
    try:
        azimuth, elevation = (float(part) for part in parts)
    except ValueError:
        raise UserError(
            f"--binaural takes AZIMUTH,ELEVATION in degrees (e.g. 90,0 for the left), got {text!r}."
        ) from None
    return azimuth, elevation


# --- --from: remaking a recorded sound ------------------------------------------------------------


def _check_only_output_options(ctx: typer.Context, model: str | None) -> None:
    if model is not None:
        raise UserError(
            f"Give either a MODEL ({model!r}) or --from, not both: --from remakes the sound with its own model."
        )
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name not in (*_FROM_ALSO_TAKES, "from_sidecar", "model")
        and getattr(ctx.get_parameter_source(param.name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")
    ]
    if given:
        raise UserError(
            f"--from remakes the recorded sound with its own settings, so it takes no {', '.join(given)};"
            " only -o, --plot and --library."
        )


def _replay_plan(sidecar: Path, output: Path | None, library: Path | None) -> Plan:
    from distill.generation.remake import find_recorded_model, read_recorded

    recorded = read_recorded(sidecar)
    target = recorded.target(output)
    blend = second = None
    if recorded.blend is not None:
        from distill.generation.blend import BlendParams

        settings = recorded.blend
        blend = BlendParams(kind=settings["kind"], weight=settings["weight"], curve=settings["curve"])
        second = find_recorded_model(replace(recorded, model=settings["second"]), library=library)
    return Plan(
        model=find_recorded_model(recorded, library=library),
        sounds=[recorded.params],
        output=target,
        export=recorded.export,
        recorded=recorded,
        blend=blend,
        second=second,
    )
