"""The ``distill`` command. Heavy imports happen inside commands so ``distill --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from distill.cli.blend import blend
from distill.cli.codes import codes_app, decode, edit, encode
from distill.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    exit_on_user_error,
    fail,
    interrupted,
    usage_error_line,
)
from distill.cli.evaluate import evaluate
from distill.cli.generate import generate
from distill.cli.help import DistillTyper
from distill.cli.memorization import memorization
from distill.cli.models import models_app, package
from distill.cli.report import report
from distill.cli.train_commands import register as register_train_commands

app = DistillTyper(
    name="distill",
    help="Train generative models of your own sound collection, then make new sounds with them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _log_to(console) -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )


def _print_version(value: bool) -> None:
    if value:
        from distill import __version__

        typer.echo(f"distill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print distill's version and exit."
    ),
) -> None:
    """Train generative models of your own sound collection, then make new sounds with them."""


@app.command()
def scan(
    folder: Path = typer.Argument(..., help="Folder of recordings (searched recursively)."),
    cache_dir: Path = typer.Option(
        None,
        "--cache-dir",
        help="Where prepared mels are kept (default: $DISTILL_CACHE_DIR or ~/.cache/distill).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Only check the files; write nothing."),
) -> None:
    """Check which recordings in FOLDER distill can train on, and which tier `data=auto` would pick.

    Files are decoded once and their mels cached, so the training run that follows starts at once.
    Exit code 0 when at least one file is usable, 2 when none is.
    """
    from rich.console import Console
    from rich.progress import Progress

    from distill.audio.mel import MelConfig
    from distill.config import default_cache_dir
    from distill.data.scan import scan_folder
    from distill.data.scan_report import render_scan_report
    from distill.data.store import DecodingStore, MelCache
    from distill.data.tiers import pick_tier

    _log_to(Console(stderr=True))
    mel_config = MelConfig()
    store = (
        DecodingStore(mel_config=mel_config)
        if no_cache
        else MelCache(root=cache_dir or default_cache_dir(), mel_config=mel_config)
    )
    console = Console()
    with exit_on_user_error():
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Scanning", total=None)
            report = scan_folder(
                folder,
                store=store,
                on_file=lambda path: progress.update(task, description=f"Reading {path.name}"),
            )
        tier = pick_tier(len(report.usable)) if report.usable else None
        render_scan_report(console, report, tier_name=tier.name if tier else None)
        report.require_usable()


vocoder_app = DistillTyper(
    help="Vocoders: the universal BigVGAN-v2 (optional extra distill[bigvgan]).", no_args_is_help=True
)
app.add_typer(vocoder_app, name="vocoder")
app.add_typer(models_app, name="models")
app.command("package")(package)
app.command("generate")(generate)
app.command("blend")(blend)
app.command("memorization")(memorization)
app.command("evaluate")(evaluate)
app.command("report")(report)
app.command("encode")(encode)
app.command("decode")(decode)
app.command("edit")(edit)
app.add_typer(codes_app, name="codes")
register_train_commands(app)


@vocoder_app.command("download")
def vocoder_download(
    source: str = typer.Argument(
        "nvidia/bigvgan_v2_44khz_128band_512x", help="Hub id of the BigVGAN-v2 model."
    ),
) -> None:
    """Download BigVGAN-v2 (44 kHz, 128 bands, 512x) once; later runs use it offline."""
    from distill.vocoders.bigvgan import load_bigvgan, locate

    with exit_on_user_error():
        folder = locate(source, download=True)
        load_bigvgan(str(folder))  # proves the files load and match distill's mel
    typer.echo(f"BigVGAN ready in {folder}")


def main() -> None:
    # standalone_mode=False: click's own errors (a bad value, a missing argument) come to us, to be
    # one line like every other bad input rather than click's usage block and boxed message.
    try:
        with exit_on_user_error():  # what a command's own checks did not foresee, still one line
            code = app(standalone_mode=False)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except typer.Abort:  # a question that got no answer (stdin closed)
        fail("stopped: a question got no answer (stdin is closed); nothing was changed.")
    except typer.TyperException as error:  # click's usage errors
        if type(error).__name__ == "NoArgsIsHelpError":  # a group without a command: its help is shown
            sys.exit(EXIT_USER_ERROR)
        fail(usage_error_line(error))
    if code == EXIT_INTERRUPTED:
        interrupted("stopped by Ctrl-C before it finished; what it had written is whole.")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
