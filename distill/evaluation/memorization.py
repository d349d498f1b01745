"""The prior's memorization check on demand, for a packaged model (``distill memorization``).

The model file names its training and held-out files (``dataset.train_files`` / ``val_files``,
relative to ``dataset.root``); they are encoded with the model's own RVQ-VAE, and the check runs
with the settings of model_setup/prior.yaml (the prior's memorization callback) unless the
arguments change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from distill.callbacks.memorization import check_memorization, default_settings
from distill.codes.memorization import MemorizationReport
from distill.errors import UserError
from distill.evaluation.generation import collection_files

if TYPE_CHECKING:
    from distill.model import DistillModel


@dataclass(frozen=True, kw_only=True)
class ModelMemorization:
    report: MemorizationReport
    root: Path  # where the collection's files were looked for
    missing: int  # listed files not found there: the check ran without them


MAX_SAMPLES = 10_000  # the check's verdict settles with tens of sequences; more is a typo


def model_memorization(
    model: DistillModel, *, data: Path | None = None, samples: int | None = None, seed: int | None = None
) -> ModelMemorization:
    """Check whether ``model``'s prior makes new material or replays its training files, on the
    files under ``data`` (default: where the model file says they were); ``samples`` and ``seed``
    None keep the training-time settings."""
    if samples is not None and (isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES):
        raise UserError(f"--samples must be from 1 to {MAX_SAMPLES} sequences, got {samples}.")
    if seed is not None and (isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise UserError(f"--seed must be a whole number from 0 to 2^63 - 1, got {seed}.")
    if model.prior is None:
        raise UserError(f"Model {model.name} has no prior, so there is nothing to check.")
    root, training, heldout, missing = collection_files(model, data)
    report = check_memorization(
        model.prior,
        training=[model.encode(clip).codes for clip in training],
        heldout=[model.encode(clip).codes for clip in heldout],
        settings=default_settings(num_samples=samples, seed=seed),
    )
    return ModelMemorization(report=report, root=root, missing=missing)
