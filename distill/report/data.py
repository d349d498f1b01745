"""Everything a report shows, gathered into one typed ``ReportData`` from a model file or a run.

A model file's story is its manifest metadata (written by ``distill.bundle.package``; see its
docstring for every key): ``loss_history``, ``training``, ``codebook_health``,
``codebook_warnings``, ``memorization``, ``vocoder``, ``evaluation`` (``distill evaluate``) and
``dataset``. A run folder's is its CSV logs, its ``summary.json`` (``RunSummary``) and its config.
Sounds (generated, reconstructed) come from ``distill.report.sounds``; this module reads records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.report.history import MetricHistory, read_csv_history
from distill.report.sounds import SoundClip
from distill.report.tables import NONE, duration_text, number_text, vocoder_text


@dataclass(frozen=True, kw_only=True)
class ComponentTraining:
    """How one component trained: its logged metrics and which step its weights are from."""

    component: str  # "vqvae" | "prior" | "vocoder" (distill.bundle.format.COMPONENTS)
    history: MetricHistory
    best_step: int | None  # the step of the weights the run or model stands for
    best_label: str  # what that step is, in words, for the plot legend
    per_epoch_only: bool  # a model file keeps one row per epoch, a run's CSV every logged step


@dataclass(frozen=True, kw_only=True)
class CodebookSummary:
    """The RVQ-VAE's codebook health at the end of training (``RunSummary.codebook_health*``)."""

    train: list[dict[str, Any]]  # rows: level, utilization, perplexity, dead_codes
    val: list[dict[str, Any]]
    warnings: list[str]
    size: dict[str, Any] | None  # {"levels", "size"} where recorded


@dataclass(kw_only=True)
class ReportData:
    """One report page's content; sections a source does not have stay empty or None. Built in
    steps (records first, then sounds), so not frozen."""

    title: str
    source: str  # the model file or run folder, as given
    facts: list[tuple[str, str]]
    training: list[ComponentTraining]
    dataset: dict[str, Any] = field(default_factory=dict)  # the dataset summary: root, val_files, ...
    codebook: CodebookSummary | None = None
    memorization: dict[str, Any] | None = None  # MemorizationReport.to_dict() of the best weights
    memorization_last: dict[str, Any] | None = None  # ... and of the final weights
    vocoder: dict[str, Any] | None = None  # {"type", "quality", "bigvgan_quality", ...}
    evaluation: dict[str, Any] | None = None  # GenerationEvaluation.as_dict(), from `distill evaluate`
    generated: list[SoundClip] = field(default_factory=list)
    reconstructions: list[SoundClip] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # section -> sentences for the reader

    def note(self, section: str, sentence: str) -> None:
        self.notes.setdefault(section, []).append(sentence)


def _ordered(components) -> list[str]:
    from distill.bundle.format import COMPONENTS

    return [name for name in COMPONENTS if name in components]


# --- a packaged model -----------------------------------------------------------------------------


def model_report_data(model, *, source: str) -> ReportData:
    """The records of a loaded ``DistillModel`` (no sounds yet: ``distill.report.sounds`` adds them)."""
    meta = model.metadata
    dataset = meta.get("dataset") or {}
    training_meta = meta.get("training") or {}
    vocoder = meta.get("vocoder") if isinstance(meta.get("vocoder"), dict) else None
    facts = [
        ("model", f"{model.name} ({model.id or 'no id'})"),
        ("file", str(model.path) if model.path else source),
        ("created", meta.get("created") or NONE),
        ("components", ", ".join(model.components)),
        ("tier", dataset.get("tier") or NONE),
        (
            "collection",
            f"{number_text(dataset.get('file_count'))} files, {duration_text(dataset.get('total_duration_s'))}"
            f" ({len(dataset.get('train_files') or [])} training, {len(dataset.get('val_files') or [])}"
            f" held out) in {dataset.get('root') or NONE}",
        ),
        (
            "training steps",
            ", ".join(_steps_text(training_meta, name) for name in _ordered(training_meta)) or NONE,
        ),
    ]
    if vocoder:
        facts.append(("vocoder", vocoder_text(vocoder.get("type"), vocoder.get("steps"))))
    history = meta.get("loss_history") or {}
    training = [
        ComponentTraining(
            component=name,
            history=MetricHistory.from_rows(history[name] or []),
            best_step=(training_meta.get(name) or {}).get("steps"),
            best_label="packaged checkpoint",
            per_epoch_only=True,
        )
        for name in _ordered(history)
    ]
    health = meta.get("codebook_health") or {}
    codebook = CodebookSummary(
        train=list(health.get("levels") or []),
        val=list(health.get("validation") or []),
        warnings=list(meta.get("codebook_warnings") or []),
        size=meta.get("codebook"),
    )
    data = ReportData(
        title=f"Model {model.name}",
        source=source,
        facts=facts,
        training=training,
        dataset=dataset,
        codebook=codebook,
        memorization=meta.get("memorization") if isinstance(meta.get("memorization"), dict) else None,
        vocoder=vocoder,
        evaluation=meta.get("evaluation") if isinstance(meta.get("evaluation"), dict) else None,
    )
    if "prior" in model.components:
        _last_memorization_from_run(data, (training_meta.get("prior") or {}).get("run"))
    return data


def _steps_text(training: dict[str, Any], name: str) -> str:
    steps = (training.get(name) or {}).get("steps")
    return f"{name} {steps}" if steps is not None else name


def _last_memorization_from_run(data: ReportData, run: str | None) -> None:
    """A model file keeps the best weights' memorization check; the final weights' check is in the
    prior's run summary, read when that folder is still there."""
    from distill.errors import UserError
    from distill.runs import RunSummary

    try:
        summary = RunSummary.read(run) if run else None
    except UserError:
        summary = None
    if summary is not None and summary.memorization_last:
        data.memorization_last = summary.memorization_last
    elif summary is not None:
        data.note("memorization", f"The prior's run ({run}) recorded no check of its final weights.")
    else:
        data.note(
            "memorization",
            "The final weights' check is kept in the prior's run folder"
            f"{f' ({run})' if run else ''}, which is not on disk here; the model file holds the best"
            " weights' check.",
        )


# --- a training run -------------------------------------------------------------------------------


def run_component(config) -> str:
    """Which component a run trained, from its config's LightningModule (packaging's own rule)."""
    from distill.bundle.build import COMPONENT_SPECS
    from distill.errors import UserError

    target = config.get("model", {}).get("_target_")
    for name, spec in COMPONENT_SPECS.items():
        if spec.run_target == target:
            return name
    raise UserError(f"The run trained {target or 'no known model'}, which distill report does not know.")


def run_training(run_dir: Path, config, loss_history: list[dict[str, Any]]) -> ComponentTraining:
    """The run's logged history (CSV, else the summary's per-epoch rows) and its best step by the
    checkpoint callback's own monitor and mode."""
    history = read_csv_history(run_dir)
    per_epoch_only = not history
    if per_epoch_only:
        history = MetricHistory.from_rows(loss_history)
    checkpoint = (config.get("callbacks") or {}).get("model_checkpoint") or {}
    monitor, mode = checkpoint.get("monitor"), checkpoint.get("mode")
    best = None
    if monitor and mode:
        ranked_from = 0
        if (config.get("model") or {}).get("mel_discriminator"):
            # An adversarial RVQ-VAE's best is ranked from its first discriminator update
            # (BestCheckpoint); one that ended in its warm-up has none.
            updates = history.points.get("train/discriminator")
            ranked_from = min(updates) if updates else None
        if ranked_from is not None:
            best = history.best_step(monitor, mode, from_step=ranked_from)
    return ComponentTraining(
        component=run_component(config),
        history=history,
        best_step=best,
        best_label=f"best by {monitor}" if monitor else "best checkpoint",
        per_epoch_only=per_epoch_only,
    )


def run_report_data(run_dir: Path) -> ReportData:
    """A run folder's records. A run still training (no summary yet) shows its logs so far."""
    from omegaconf import OmegaConf

    from distill.errors import UserError
    from distill.runs import RunSummary, read_run_config

    config = OmegaConf.to_container(read_run_config(run_dir), resolve=False)
    try:
        summary = RunSummary.read(run_dir)
    except UserError:
        summary = None
    training = run_training(run_dir, config, summary.loss_history if summary else [])
    dataset = summary.dataset if summary else {}
    facts = [
        ("run", str(run_dir)),
        ("trained", training.component),
        ("state", "finished" if summary else "no summary.json: still training, or stopped early"),
        ("steps", f"{summary.global_step} in {summary.epochs} epochs" if summary else NONE),
        ("tier", (summary.tier if summary else None) or NONE),
        (
            "collection",
            f"{number_text(dataset.get('file_count'))} files, {duration_text(dataset.get('total_duration_s'))}"
            f" ({len(dataset.get('train_files') or [])} training, {len(dataset.get('val_files') or [])}"
            f" held out) in {dataset.get('root') or NONE}",
        ),
    ]
    data = ReportData(
        title=f"Training run {run_dir.name} ({training.component})",
        source=str(run_dir),
        facts=facts,
        training=[training],
        dataset=dataset,
    )
    if summary is None:
        data.note("training", "This run has no summary.json yet, so only its logs are shown.")
        return data
    if training.component == "vqvae":
        data.codebook = CodebookSummary(
            train=summary.codebook_health,
            val=summary.codebook_health_val,
            warnings=summary.codebook_warnings,
            size=None,
        )
    data.memorization = summary.memorization
    data.memorization_last = summary.memorization_last
    data.vocoder = summary.vocoder
    return data
