"""``distill generate``: new sounds from a model in the library (or a .distillgan file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error
from distill.generation.params import STAGES, GenerationParams

DEFAULTS = GenerationParams()


def generate(
    model: str = typer.Argument(
        ..., help="Model name or id in the library, or a path to a .distillgan file."
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
    count: int = typer.Option(1, "--count", "-n", help="Variations to write, with seeds seed, seed+1, ..."),
    vocoder: str = typer.Option(
        DEFAULTS.vocoder,
        help="auto (the model's own, else BigVGAN), bundled (the model's own) or bigvgan.",
    ),
    overlap: float = typer.Option(
        DEFAULTS.overlap, help="Share of each mel decoding window crossfaded into the next (long sounds)."
    ),
    prompt: Path = typer.Option(None, "--prompt", help="An audio file the new sound continues from."),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="Output file (default: <model name>.<format> here); its suffix sets the format.",
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
) -> None:
    """Generate new sounds with MODEL and write them (with a .json sidecar that can remake each one).

    Examples: distill generate drums --count 16 -o hits.wav (16 new hits);
    distill generate rain --mode continuous --duration 30
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with exit_on_user_error():
        from distill.bundle.model import DistillModel
        from distill.errors import UserError
        from distill.generation.export import output_paths
        from distill.generation.pipeline import run_generation

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
        )
        params.check()  # bad values fail before a model is loaded
        if isinstance(count, bool) or count < 1:
            raise UserError(f"--count must be at least 1, got {count}.")
        loaded = DistillModel.load(model, library=library)
        suffix = f".{audio_format or 'wav'}"
        base = output if output is not None else Path(f"{loaded.name}{suffix}")
        if base.suffix == "" and audio_format is None:
            base = base.with_suffix(suffix)
        targets = output_paths(base, count)
        steps_per_sound = len(STAGES) + 1  # + export
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("loading", total=count * steps_per_sound)
            for index, target in enumerate(targets):
                label = f"[{index + 1}/{count}] seed {seed + index}"

                def on_stage(name: str, label: str = label) -> None:
                    progress.update(task, description=f"{label}: {name}")
                    if name != STAGES[0]:
                        progress.advance(task)

                result = run_generation(loaded, replace(params, seed=seed + index), on_stage=on_stage)
                progress.update(task, description=f"{label}: export")
                progress.advance(task)
                written = result.audio.save(
                    target, sample_rate=sample_rate, format=audio_format, subtype=subtype, peak=peak
                )
                progress.advance(task)
                if index == 0:  # once the first file is written (bad export settings fail first)
                    console.print(f"mode: {result.params.mode}; {result.vocoder.reason}")
                    if result.vocoder.warning:
                        console.print(f"[yellow]warning:[/] {result.vocoder.warning}")
                console.print(f"wrote {written.path} ({written.duration_s:.2f} s, {written.sample_rate} Hz)")
                for warning in result.warnings:
                    console.print(f"[yellow]warning:[/] {written.path.name}: {warning}")
                if written.peak_report:
                    console.print(f"  {written.peak_report}")
                if plot:
                    from distill.codes.plot import plot_generation

                    image = plot_generation(
                        result.mel,
                        result.grid.codes,
                        written.path.with_suffix(".png"),
                        frames_per_column=result.grid.frames_per_column,
                        codebook_size=loaded.vqvae.quantizer.codebook_size,
                    )
                    console.print(f"wrote {image}")
