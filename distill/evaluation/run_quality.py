"""When a training run ends: where the model it makes stands, on the sound-effects embedding.

An RVQ-VAE run measures its code grid (files through audio -> codes -> mel -> audio), a prior
run what it generates; both are scored against the training files as ``distill evaluate``'s
stage table is (``stages.py``), with the same-collection floor beside them. The run is packaged
into a temporary model file first, so what is measured is exactly what ``distill package`` would
make of it: the checkpoint the run stands for, its vocoder, the prior's default mode.

The numbers become ``quality/*`` metrics (``quality/kad_<stage>`` ×1000 and
``quality/one_nn_<stage>``, ``quality/kad_floor``): the run summary's ``quality`` section, the
loggers (W&B), and what ``train.py`` returns to a Hydra sweeper (``objective=...``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.errors import UserError
from distill.evaluation.stages import STAGE_LABELS, STAGES, StageTable

log = logging.getLogger(__name__)

# Metric-name form of each stage (no spaces: a Hydra override names it as objective=quality/kad_...).
STAGE_SLUGS = {
    "vocoder": "vocoder",
    "via codes": "via_codes",
    "held-out": "heldout",
    "held-out via codes": "heldout_via_codes",
    "generated": "generated",
    "noise": "noise",
}
METRIC_PREFIX = "quality/"


def stage_metric_names(stages: Sequence[str]) -> list[str]:
    """The metrics measuring ``stages`` logs, floor first (for checking an objective before a run)."""
    unknown = [stage for stage in stages if stage not in STAGE_SLUGS]
    if unknown:
        raise UserError(f"quality.stages names {unknown[0]!r}; the stages are {', '.join(STAGES)}.")
    names = [f"{METRIC_PREFIX}kad_floor"]
    for stage in stages:
        names += [f"{METRIC_PREFIX}kad_{STAGE_SLUGS[stage]}", f"{METRIC_PREFIX}one_nn_{STAGE_SLUGS[stage]}"]
    return names


@dataclass(frozen=True, kw_only=True)
class RunQuality:
    """The stage table of the model a run makes, and what rendered its audio."""

    table: StageTable
    vocoder: str  # which vocoder rendered the sets, and why (``VocoderSelection.reason``)

    def metrics(self) -> dict[str, float]:
        """``quality/*`` numbers (sets too small to score have none)."""
        values = {}
        if self.table.floor is not None:
            values[f"{METRIC_PREFIX}kad_floor"] = self.table.floor
        for stage, score in self.table.stages.items():
            if score is None:
                continue
            slug = STAGE_SLUGS[stage]
            if score.kad is not None:
                values[f"{METRIC_PREFIX}kad_{slug}"] = score.kad
            if score.one_nn_accuracy is not None:
                values[f"{METRIC_PREFIX}one_nn_{slug}"] = score.one_nn_accuracy
        return values

    def as_dict(self) -> dict[str, Any]:
        return {"vocoder": self.vocoder, "stages": self.table.as_dict()}

    def lines(self) -> list[str]:
        """What the end of a run prints: each measured stage's KAD with its interval, beside the floor."""
        floor = "" if self.table.floor is None else f"; same-collection floor {self.table.floor:.0f}"
        lines = [f"Quality (KAD x1000 to the {self.table.reference} training files, lower is closer{floor}):"]
        for stage, score in self.table.stages.items():
            if score is None or score.kad is None:
                continue
            interval = f" [{score.kad_low:.0f}, {score.kad_high:.0f}]" if score.kad_low is not None else ""
            one_nn = f", 1-NN {score.one_nn_accuracy:.2f}" if score.one_nn_accuracy is not None else ""
            lines.append(f"  {STAGE_LABELS[stage]}: {score.kad:.0f}{interval}{one_nn} ({score.n} sounds)")
        lines.append(f"  rendered by the {self.vocoder}")
        return lines


def measure_run(
    components: Mapping[str, str | Path | None],
    *,
    stages: Sequence[str],
    count: int,
    seed: int,
    on_progress: Callable[[str], None] | None = None,
) -> RunQuality:
    """Package ``components`` (``vqvae``, ``prior``, ``vocoder`` run folders; as ``package_runs``
    takes them) into a temporary file and score ``stages`` of that model against its training files.

    ``count`` generated sounds (seeds seed..) in the model's default mode for ``generated``.
    Raises a UserError (one sentence) when the model cannot be measured: no vocoder to render its
    mels, the embedding not installed, the training files gone.
    """
    from distill.bundle.package import package_runs
    from distill.evaluation.embedding import SoundEmbedding
    from distill.model import DistillModel

    embedding = SoundEmbedding()  # fails first, in one line, when aisfx is not installed
    sources = {name: components.get(name) for name in ("vqvae", "prior", "vocoder")}
    with tempfile.TemporaryDirectory(prefix="distill-quality-") as folder:
        path = Path(folder) / "measured.distillgan"
        package_runs(**sources, name="measured", output=path)
        model = DistillModel.load(path)
    selection = model.select_vocoder("auto")  # a UserError when there is none to render with
    table = _stage_table(model, stages, count=count, seed=seed, embedding=embedding, on_progress=on_progress)
    return RunQuality(table=table, vocoder=selection.reason)


def _stage_table(model, stages, *, count, seed, embedding, on_progress) -> StageTable:
    from distill.evaluation.generation import collection_files, white_noise
    from distill.evaluation.stages import stage_table, through_codes, vocoded
    from distill.generation.params import GenerationParams
    from distill.generation.pipeline import run_generation

    report = on_progress or (lambda message: None)
    _, training, heldout, _ = collection_files(model, None)
    sets: dict[str, list] = {}
    if "vocoder" in stages:
        report("rendering the training files through the vocoder")
        sets["vocoder"] = vocoded(model, training, "auto")
    if "via codes" in stages:
        report("rendering the training files through the codes")
        sets["via codes"] = through_codes(model, training, "auto")
    if "held-out" in stages:
        sets["held-out"] = heldout
    if "held-out via codes" in stages:
        report("rendering the held-out files through the codes")
        sets["held-out via codes"] = through_codes(model, heldout, "auto")
    if "generated" in stages:
        report(f"generating {count} sounds in the model's default mode")
        sets["generated"] = [
            run_generation(model, GenerationParams(seed=seed + index)).audio.samples for index in range(count)
        ]
    if "noise" in stages:
        sets["noise"] = white_noise(training, max(count, 2), seed)
    return stage_table(
        sets,
        training=training,
        sample_rate=model.mel_config.sample_rate,
        embedding=embedding,
        seed=seed,
        on_progress=report,
    )


def _has_vocoder(cfg) -> bool:
    """Whether the measured model will have a vocoder: the one it packages (vocoder_run, or
    package_components.vocoder set directly), else a local BigVGAN."""
    from distill.vocoders.bigvgan import is_available

    return (cfg.get("package_components") or {}).get("vocoder") is not None or is_available()


def check_quality_settings(cfg) -> None:
    """Refuse, before training, stages that do not exist and an ``objective`` the run will not
    measure: one sentence each."""
    stages = list((cfg.get("quality") or {}).get("stages") or [])
    measured = stage_metric_names(stages)
    objective = cfg.get("objective")
    if objective is None or not str(objective).startswith(METRIC_PREFIX):
        return
    if objective not in measured or not stages:
        names = ", ".join(measured) if stages else "none (quality.stages is empty)"
        raise UserError(
            f"objective={objective} is not measured by this run; its quality metrics are {names}."
        )
    from distill.evaluation.embedding import SoundEmbedding

    SoundEmbedding()  # one line when aisfx is not installed
    if not _has_vocoder(cfg):
        raise UserError(
            f"objective={objective} needs a vocoder to render the model's sound: add "
            "vocoder_run=<vocoder run folder> (or install BigVGAN and `distill vocoder download`)."
        )


def measure_at_run_end(cfg, *, on_progress: Callable[[str], None] | None = None) -> RunQuality | None:
    """The run's ``quality`` (its config section; None without one or with no stages), measured on
    the model ``package_components`` name; a reason logged instead when it cannot be."""
    settings = cfg.get("quality")
    stages = list(settings.stages) if settings is not None else []
    if not stages:
        return None
    if not _has_vocoder(cfg):
        log.info(
            "Quality not measured: no vocoder to render the model's sound; add vocoder_run=<vocoder run "
            "folder> (or install BigVGAN and `distill vocoder download`)."
        )
        return None
    try:
        return measure_run(
            cfg.package_components,
            stages=stages,
            count=int(settings.count),
            seed=int(settings.seed),
            on_progress=on_progress,
        )
    except UserError as error:
        log.info("Quality not measured: %s", error)
        return None
