"""Training from the ``distill`` command: thin aliases over the Hydra app of ``train.py``.

``distill train FOLDER [overrides]`` is ``python train.py model=vqvae data.path=FOLDER [overrides]``;
``train-prior`` and ``train-vocoder`` likewise. Every Hydra override (``trainer=gpu``,
``data=small``, ``-m`` sweeps, ``resume=<run>``) passes through unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
OVERRIDES_HELP = (
    "Hydra overrides passed through to train.py, e.g. trainer=gpu data=small trainer.max_epochs=50"
)


def _train_job(cfg) -> float | None:
    from distill.cli.errors import exit_on_user_error
    from distill.train import train

    with exit_on_user_error():
        metrics, _ = train(cfg)
    # What a Hydra sweeper minimises (`objective`, checked before training to be one this run
    # measures); None when the run could not measure it (its log says why).
    return metrics.get(cfg.objective)


def hydra_main() -> None:
    """The Hydra app behind ``train.py`` and the ``distill train*`` commands (overrides from sys.argv).

    Built on call so that ``distill --help`` does not pay for importing Hydra.
    """
    import os

    import hydra
    from hydra.errors import CompactHydraException

    from distill.cli.errors import exit_on_user_error, fail
    from distill.config import CONFIG_DIR, resolvers

    resolvers.register()  # before Hydra composes: its --help text reads options through one
    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")(_train_job)
    # Hydra prints its own failures (a config it cannot compose, a run folder it may not make) as a
    # trimmed traceback and exits 1. Raised to us instead (HYDRA_FULL_ERROR), they become one line
    # and exit 2 like every other bad input; a bug still shows its whole traceback.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    with exit_on_user_error():
        try:
            app()
        except CompactHydraException as error:
            told = str(error).split("Config search path")[0]  # where Hydra looked: not the user's concern
            fail(" ".join(line.strip() for line in told.splitlines() if line.strip()))


def _launch(program: str, overrides: list[str]) -> None:
    # Hydra reads its overrides from sys.argv; the program name only names the app in its messages.
    sys.argv = [program, *overrides]
    hydra_main()


def train_vqvae(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Folder of recordings (searched recursively)."),
) -> None:
    """Train the RVQ-VAE (the code grid) on FOLDER; extra arguments are Hydra overrides."""
    _launch("distill train", ["model=vqvae", f"data.path={folder.expanduser().resolve()}", *ctx.args])


def train_prior(
    ctx: typer.Context,
    vqvae: Path = typer.Option(..., "--vqvae", help="The RVQ-VAE run folder whose codes the prior learns."),
) -> None:
    """Train the transformer prior over a trained RVQ-VAE's codes; extra arguments are Hydra overrides.

    It trains on the folder of that RVQ-VAE's run unless you pass data.path=..."""
    _launch("distill train-prior", ["model=prior", f"model.vqvae={vqvae.expanduser().resolve()}", *ctx.args])


def train_vocoder(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Folder of recordings (searched recursively)."),
) -> None:
    """Train the model's own vocoder (mel -> audio) on FOLDER; extra arguments are Hydra overrides.

    Vocos by default (model/generator=hifigan for HiFi-GAN V2); model/discriminator=full for the
    paper's discriminators, trainer=gpu for a GPU."""
    _launch(
        "distill train-vocoder", ["model=vocoder", f"data.path={folder.expanduser().resolve()}", *ctx.args]
    )


def register(app: typer.Typer) -> None:
    for name, command in (
        ("train", train_vqvae),
        ("train-prior", train_prior),
        ("train-vocoder", train_vocoder),
    ):
        app.command(name, context_settings=PASS_THROUGH, epilog=OVERRIDES_HELP)(command)


if __name__ == "__main__":  # `python -m distill.cli.train_commands <overrides>`: train.py without a checkout
    hydra_main()
