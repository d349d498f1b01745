"""``distill encode / decode / edit`` and ``distill codes show / edits``: sounds as code grids on disk.

A ``.codes`` file records the VQ-VAE that made it, so ``decode``, ``show`` and ``edit`` find the
model in the library by that digest unless ``--model`` names one; a grid of another model's VQ-VAE
is refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error
from distill.cli.help import DistillTyper

MODEL_OPTION_HELP = (
    "Model name or id in the library, or a .distillgan path (default: the one whose VQ-VAE made the grid)."
)
LIBRARY_HELP = "Model library folder (default: $DISTILL_HOME)."

codes_app = DistillTyper(help="Look at code grids (.codes files).", no_args_is_help=True)


def _grid_and_model(codes_file: Path, model: str | None, library: Path | None):
    """The grid of ``codes_file`` and the model that decodes it, checked to belong together."""
    from distill.bundle import locate_model_for_vqvae
    from distill.codes.grid import CodeGrid
    from distill.model import DistillModel

    grid = CodeGrid.load(codes_file)
    loaded = DistillModel.load(
        model if model is not None else locate_model_for_vqvae(grid.vqvae_digest, library=library),
        library=library,
    )
    grid.check_model(loaded.vqvae_digest, loaded.name)
    return grid, loaded


def encode(
    model: str = typer.Argument(..., help="Model name or id in the library, or a .distillgan path."),
    audio: Path = typer.Argument(..., help="The sound file to encode (any length)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="The .codes file (default: <audio stem>.codes)."
    ),
    library: Path = typer.Option(None, "--library", help=LIBRARY_HELP),
) -> None:
    """Encode AUDIO into MODEL's code grid and save it as a .codes file."""
    with exit_on_user_error():
        from distill.model import DistillModel

        loaded = DistillModel.load(model, library=library)
        grid = loaded.encode(audio)
        path = grid.save(output if output is not None else Path(audio.stem).with_suffix(".codes"))
        print(
            f"wrote {path}: {grid.levels} levels x {grid.rows} rows x {grid.columns} columns"
            f" ({grid.seconds:.2f} s) of {loaded.name}"
        )


def decode(
    codes_file: Path = typer.Argument(..., help="A .codes file."),
    output: Path = typer.Option(None, "--output", "-o", help="Audio file (default: <codes stem>.wav)."),
    model: str = typer.Option(None, "--model", help=MODEL_OPTION_HELP),
    vocoder: str = typer.Option("auto", help="auto (the model's own, else BigVGAN), bundled or bigvgan."),
    sample_rate: int = typer.Option(48000, "--sample-rate", help="Sample rate of the written file."),
    library: Path = typer.Option(None, "--library", help=LIBRARY_HELP),
) -> None:
    """Render a code grid to audio with the model whose VQ-VAE made it."""
    with exit_on_user_error():
        from distill.vocoders.choice import VocoderChoice

        VocoderChoice.parse(vocoder)
        grid, loaded = _grid_and_model(codes_file, model, library)
        audio = loaded.render(grid, vocoder=vocoder)
        target = output if output is not None else Path(codes_file.stem).with_suffix(".wav")
        written = audio.save(target, sample_rate=sample_rate)
        print(
            f"wrote {written.path} ({written.duration_s:.2f} s, {written.sample_rate} Hz) with {loaded.name}"
        )
        for warning in audio.metadata.get("warnings", []):
            print(f"warning: {warning}")


@codes_app.command("show")
def show(
    codes_file: Path = typer.Argument(..., help="A .codes file."),
    output: Path = typer.Option(None, "--output", "-o", help="PNG file (default: <codes stem>.png)."),
    model: str = typer.Option(None, "--model", help=MODEL_OPTION_HELP),
    library: Path = typer.Option(None, "--library", help=LIBRARY_HELP),
) -> None:
    """Draw a code grid under the mel it decodes to, on one time axis."""
    with exit_on_user_error():
        from distill.codes.plot import plot_generation

        grid, loaded = _grid_and_model(codes_file, model, library)
        target = output if output is not None else Path(codes_file.stem).with_suffix(".png")
        path = plot_generation(
            loaded.decode(grid),
            grid.codes,
            target,
            frames_per_column=grid.frames_per_column,
            codebook_size=loaded.vqvae.quantizer.codebook_size,
            title=f"{codes_file.name} ({loaded.name})",
        )
        print(f"wrote {path}")


def edit(
    codes_file: Path = typer.Argument(..., help="The .codes file to edit."),
    session: Path = typer.Option(..., "--session", help="An edit session saved by CodeEditor.save."),
    output: Path = typer.Option(..., "--output", "-o", help="The edited .codes file."),
    model: str = typer.Option(None, "--model", help=MODEL_OPTION_HELP),
    library: Path = typer.Option(None, "--library", help=LIBRARY_HELP),
) -> None:
    """Replay a saved edit session's edits (the ones in effect) on a code grid.

    `distill codes edits` lists the edits a session can hold.
    """
    with exit_on_user_error():
        from distill.codes.editor import CodeEditor

        grid, loaded = _grid_and_model(codes_file, model, library)
        editor = CodeEditor.load(session, loaded, start=grid)
        path = editor.grid.save(output)
        print(f"wrote {path}: {len(editor.history)} edit(s) applied, {editor.grid.columns} columns")


@codes_app.command("edits")
def list_edits() -> None:
    """List the edits an edit session can hold, with their parameters (defaults as JSON)."""
    import json

    from distill.codes.edits import EDITS, REQUIRED

    print("Each edits the session's grid; source names a second grid added to the session.")
    for name, edit in EDITS.items():
        params = ", ".join(
            key if default is REQUIRED else f"{key}={json.dumps(default)}"
            for key, default in edit.parameters.items()
        )
        print(f"{name}({params}): {edit.summary.replace('``', '')}")
