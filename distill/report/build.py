"""A whole report's ``ReportData``: the records (``data``) plus the sounds (``sounds``), for a
model file or a training run folder."""

from __future__ import annotations

from pathlib import Path

from distill.report.data import ReportData, model_report_data, run_report_data
from distill.report.sounds import generated_clips, reconstruction_clips, run_reconstruction_clips


def model_report(model, *, source: str, sounds: int, seed: int, max_seconds: float) -> ReportData:
    """A loaded ``DistillModel``: its records, ``sounds`` generated sounds (seeds ``seed``...) and
    up to ``sounds`` held-out files reconstructed, each clip at most ``max_seconds`` long."""
    data = model_report_data(model, source=source)
    if data.evaluation is None:
        data.note(
            "evaluation",
            f"Not evaluated yet: `distill evaluate {model.name}` measures generated sound against the"
            " collection and records the result in the model file.",
        )
    if data.vocoder is None:
        data.note("vocoder", "This model has no vocoder of its own; it renders with BigVGAN when installed.")
    data.generated, notes = generated_clips(model, count=sounds, seed=seed, max_seconds=max_seconds)
    for note in notes:
        data.note("generated", note)
    data.reconstructions, notes = reconstruction_clips(model, count=sounds, max_seconds=max_seconds)
    for note in notes:
        data.note("reconstructions", note)
    return data


def run_report(run_dir: Path, *, sounds: int, max_seconds: float) -> ReportData:
    """A training run folder: what that run has (an RVQ-VAE run adds reconstructions as mels)."""
    data = run_report_data(run_dir)
    if data.training[0].component == "vqvae" and data.dataset:  # a finished RVQ-VAE run
        data.reconstructions, notes = run_reconstruction_clips(
            run_dir, data.dataset, count=sounds, max_seconds=max_seconds
        )
        for note in notes:
            data.note("reconstructions", note)
    return data
