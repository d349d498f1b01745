"""``distill blend A B``: sounds between two models (``distill.generation.blend``), written like
``distill generate`` writes its sounds, each with a sidecar that names both models and remakes it
(``distill generate --from``)."""

from __future__ import annotations

from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error
from distill.generation.params import GenerationParams

DEFAULTS = GenerationParams()


def blend(
    first: str = typer.Argument(..., help="Model A: name or id in the library, or a .distillgan file."),
    second: str = typer.Argument(..., help="Model B, the one the sound moves towards."),
    weight: float = typer.Option(0.5, "--weight", "-w", help="0 = model A alone .. 1 = model B."),
    curve: str = typer.Option(
        None,
        "--curve",
        help="The weight over the sound's length as TIME:WEIGHT points (times 0..1), e.g. 0:0,1:1 moves"
        " from A to B; replaces --weight.",
    ),
    how: str = typer.Option(
        "mix",
        "--how",
        help="mix (A's and B's sounds, mel by mel) or resynth (A's sound through B's codes: A's gestures"
        " in B's sound).",
    ),
    mode: str = typer.Option(
        None, "--mode", help="one-shot or continuous (default: what A's collection suggests)."
    ),
    duration: float = typer.Option(None, "--duration", "-d", help="Seconds (as distill generate)."),
    temperature: float = typer.Option(DEFAULTS.temperature, help="Randomness of both models' sampling."),
    top_k: int = typer.Option(DEFAULTS.top_k, "--top-k", help="Only the k likeliest codes (0 = off)."),
    top_p: float = typer.Option(
        DEFAULTS.top_p, "--top-p", help="Only the likeliest codes covering this probability."
    ),
    seed: int = typer.Option(DEFAULTS.seed, help="Same seed and settings give the same sound."),
    count: int = typer.Option(1, "--count", "-n", help="Blends to write, with seeds seed, seed+1, ..."),
    vocoder: str = typer.Option(DEFAULTS.vocoder, help="auto, bundled or bigvgan, for both models."),
    output: Path = typer.Option(None, "--output", "-o", help="Output file (default: <A>-<B>.wav here)."),
    audio_format: str = typer.Option(None, "--format", help="wav, flac or ogg (default: from --output)."),
    sample_rate: int = typer.Option(48000, "--sample-rate", help="Sample rate of the written file."),
    subtype: str = typer.Option(
        None, "--subtype", help="pcm16, pcm24 or float (WAV); pcm16 or pcm24 (FLAC)."
    ),
    peak: str = typer.Option("limit", help="limit, normalize or none (as distill generate)."),
    plot: bool = typer.Option(False, "--plot", help="Also save a PNG of each blend's mel and A's code grid."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
) -> None:
    """Sounds between model A and model B, each with a .json sidecar that remakes it.

    distill blend drums piano --weight 0.3 -o mostly-drums.wav

    distill blend drums piano --curve 0:0,1:1 --mode continuous -d 8: from drums to piano in 8 s.

    distill blend speech piano --how resynth -w 1: the speech generated, played through piano codes.
    """
    from rich.console import Console

    from distill.cli.generate import variations
    from distill.cli.make_sounds import Plan, make_sounds
    from distill.generation.blend import BlendParams, parse_curve

    console = Console(stderr=True)
    with exit_on_user_error():
        settings = BlendParams(kind=how, weight=weight, curve=None if curve is None else parse_curve(curve))
        settings.check()
        params = GenerationParams(
            mode=mode,
            duration_s=duration,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            vocoder=vocoder,
        )
        if output is None:
            output = Path(f"{Path(first).stem}-{Path(second).stem}.{audio_format or 'wav'}")
        plan = Plan(
            model=first,
            sounds=variations(params, count),
            output=output,
            export=dict(sample_rate=sample_rate, format=audio_format, subtype=subtype, peak=peak),
            blend=settings,
            second=second,
        )
        make_sounds(console, plan, library=library, plot=plot)
