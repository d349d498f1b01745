"""``distill memorization MODEL``: the prior's memorization check, on demand, for a packaged model.

The model file names its training and held-out files (``dataset.train_files`` / ``val_files``,
relative to ``dataset.root``); they are encoded with the model's own RVQ-VAE, and the check runs
with the settings of configs/model_callbacks/prior.yaml unless options change them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distill.cli.errors import exit_on_user_error


def _settings(**overrides):
    from omegaconf import OmegaConf

    from distill.callbacks.memorization import MemorizationSettings
    from distill.data.tiers import CONFIG_DIR

    # The training-time defaults are the single source: the prior's callback config.
    node = OmegaConf.load(CONFIG_DIR / "model_callbacks" / "prior.yaml").memorization.settings
    values = {key: value for key, value in OmegaConf.to_container(node).items() if key != "_target_"}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return MemorizationSettings(**values)


def _grids(model, root: Path, names: list[str]) -> tuple[list, int]:
    """Code grids [Q, R, C] of the listed files found under root, and how many were missing."""
    import torch

    from distill.audio.io import UnusableAudioError, load_audio
    from distill.codes.convert import encode_audio

    grids, missing = [], 0
    for name in names:
        try:
            loaded = load_audio(root / name, sample_rate=model.mel_config.sample_rate)
        except (OSError, UnusableAudioError):
            missing += 1
            continue
        grids.append(encode_audio(model.vqvae, torch.from_numpy(loaded.samples), model.mel_config))
    return grids, missing


def memorization(
    model: str = typer.Argument(..., help="Model name or id in the library, or a .distillgan path."),
    data: Path = typer.Option(
        None, "--data", help="The training folder (default: where the model was trained, from its file)."
    ),
    samples: int = typer.Option(None, "--samples", help="Sequences to sample (default: as after training)."),
    seed: int = typer.Option(None, "--seed", help="Sampling seed (default: as after training)."),
    library: Path = typer.Option(None, "--library", help="Model library folder (default: $DISTILL_HOME)."),
) -> None:
    """Does MODEL's prior make new material or replay its training files? Samples from it and
    compares the overlap of the samples with the training codes against held-out files."""
    from rich.console import Console

    console = Console()
    with exit_on_user_error():
        from distill.bundle.model import DistillModel
        from distill.callbacks.memorization import check_memorization
        from distill.cli.model_report import memorization_table
        from distill.errors import UserError

        loaded = DistillModel.load(model, library=library)
        if loaded.prior is None:
            raise UserError(f"Model {loaded.name} has no prior, so there is nothing to check.")
        dataset = loaded.metadata.get("dataset") or {}
        root = (data or Path(dataset.get("root") or ".")).expanduser()
        training, missing_train = _grids(loaded, root, dataset.get("train_files") or [])
        heldout, missing_val = _grids(loaded, root, dataset.get("val_files") or [])
        if not training:
            raise UserError(
                f"None of {loaded.name}'s training files were found under {root}; pass --data <its folder>."
            )
        if missing_train or missing_val:
            console.print(f"[yellow]{missing_train + missing_val} listed file(s) not found under {root}[/]")
        report = check_memorization(
            loaded.prior,
            training=training,
            heldout=heldout,
            settings=_settings(num_samples=samples, seed=seed),
        )
        console.print(memorization_table(report.to_dict()))
