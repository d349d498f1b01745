"""What a training run folder is, in one place.

A run folder, written by ``distill.train.train``::

    <run>/config.yaml          the resolved config it trained with (what packaging rebuilds from)
    <run>/summary.json         ``RunSummary``, written when training ended (absent while it runs)
    <run>/checkpoints/         best-<epoch>-<step>.ckpt (by val/loss), last.ckpt (every epoch),
                               interrupted.ckpt (Ctrl-C or a crash); each written atomically
    <run>/csv/<launch>/metrics.csv   one CSV log per launch (a resume adds a folder)
    <run>/previews/            mel images and audio written by the preview callbacks
    <run>/progress.json        how far it is while it trains (``distill.callbacks.live_progress``)

Which checkpoint a run folder stands for: the best one recorded in its summary; a run without a
summary (still training, or killed) stands for its last.ckpt. A resume continues from the newest
checkpoint that reads back whole, in the same folder, so Lightning restores the best-checkpoint
record and the CSV history stays beside the new one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf, open_dict

from distill.errors import UserError
from distill.files import atomic_write, remove_abandoned_temps, write_text_atomic

if TYPE_CHECKING:
    import lightning as L

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


class ResumeError(UserError):
    """A resume request that cannot be honoured; the message is one sentence for the user."""


class RunSummaryError(UserError):
    """A summary.json that cannot be read as one."""


@dataclasses.dataclass(kw_only=True)
class RunSummary:
    """``summary.json``: how a training run ended. Sections a model kind does not have stay empty."""

    model: str  # the LightningModule's _target_
    tier: str | None
    global_step: int
    epochs: int
    final_metrics: dict[str, float]
    dataset: dict[str, Any]  # ``DataModule.summary()``: root, file_count, train_files, val_files, ...
    checkpoints: dict[str, str]  # "best" (by the monitored metric) and "last": absolute paths
    best_score: float | None = None  # the monitored metric (val/loss) of the best checkpoint
    loss_history: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # one row per epoch
    # RVQ-VAE: the last epoch's per-level rows on training and on held-out batches, and the warnings.
    codebook_health: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    codebook_health_val: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    codebook_warnings: list[str] = dataclasses.field(default_factory=list)
    # Prior: the memorization check of the best and of the final weights, the VQ-VAE its codes came
    # from ({"run", "digest"}), the collection's shape (lengths, decay) for one-shot generation, and
    # the range of each control it was conditioned on.
    memorization: dict[str, Any] | None = None
    memorization_last: dict[str, Any] | None = None
    vqvae: dict[str, Any] | None = None
    sounds: dict[str, Any] | None = None
    controls: dict[str, Any] | None = None  # each control's range (distill.audio.descriptors)
    # Vocoder: kind, name, generator updates, the best checkpoint's held-out quality.
    vocoder: dict[str, Any] | None = None
    # RVQ-VAE and prior: the stage table of the model the run makes, measured when it ended
    # (``distill.evaluation.run_quality``: {"vocoder", "stages"}); None when not measured.
    quality: dict[str, Any] | None = None
    packaged: str | None = None  # the model file written by package=true

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: Path | str = "summary") -> RunSummary:
        if not isinstance(data, dict):
            raise RunSummaryError(f"{source} does not hold a run summary (a JSON object).")
        names = {field.name for field in dataclasses.fields(cls)}
        missing = [
            field.name for field in dataclasses.fields(cls) if _required(field) and field.name not in data
        ]
        if missing:
            raise RunSummaryError(f"{source} lacks {', '.join(missing)}; the run's summary is damaged.")
        values = {key: value for key, value in data.items() if key in names}
        # Sections written as null by a part with nothing to say read back as their empty value.
        for field in dataclasses.fields(cls):
            if (
                field.name in values
                and values[field.name] is None
                and field.default_factory is not dataclasses.MISSING
            ):
                values[field.name] = field.default_factory()
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, run_dir: Path | str) -> RunSummary:
        path = Path(run_dir) / SUMMARY_FILE
        if not path.is_file():
            raise RunSummaryError(
                f"{Path(run_dir)} has no {SUMMARY_FILE}, so its training did not finish; resume it "
                f"(resume={run_dir}) and use it once it ends."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RunSummaryError(f"{path} is not JSON; the run's summary is damaged.") from None
        return cls.from_dict(data, source=path)

    def write(self, run_dir: Path | str) -> Path:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)
        return write_text_atomic(Path(run_dir) / SUMMARY_FILE, text)

    def best_checkpoint(self, run_dir: Path | str) -> Path | None:
        """The recorded best checkpoint, looked up by name inside ``run_dir`` (the run may have moved)."""
        best = self.checkpoints.get("best")
        candidate = Path(run_dir) / CHECKPOINT_DIR / Path(best).name if best else None
        return candidate if candidate is not None and candidate.is_file() else None


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def find_run(run_or_checkpoint: Path | str) -> tuple[Path, Path]:
    """(run folder, checkpoint) for a run folder or a checkpoint inside <run>/checkpoints/.

    Everything that reads a run (packaging, a prior's code extraction, evaluation, reports) goes
    through here, so they all agree on which weights a run folder stands for.
    """
    path = Path(run_or_checkpoint).expanduser()
    if path.is_dir():
        run_dir = path
        checkpoint = _recorded_best(run_dir) or run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    else:
        checkpoint = path
        run_dir = path.parent.parent
    if not checkpoint.is_file():
        raise UserError(f"No checkpoint at {checkpoint}; give a run folder or a .ckpt file from one.")
    if not (run_dir / CONFIG_FILE).is_file():
        raise UserError(
            f"No {CONFIG_FILE} in {run_dir}; the checkpoint must sit in <run>/checkpoints/ of a distill run."
        )
    return run_dir, checkpoint


def _recorded_best(run_dir: Path) -> Path | None:
    try:
        return RunSummary.read(run_dir).best_checkpoint(run_dir)
    except UserError:
        return None


def run_folder_of(run_or_checkpoint: Path | str) -> Path:
    path = Path(run_or_checkpoint).expanduser()
    return path.parent.parent if path.is_file() else path


def read_run_config(run_or_checkpoint: Path | str) -> DictConfig:
    """The resolved config a run trained with."""
    run_dir = run_folder_of(run_or_checkpoint)
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"{run_or_checkpoint} is not a distill run folder (no {CONFIG_FILE} in {run_dir}).")
    return OmegaConf.load(config)


def write_run_config(run_dir: Path, cfg: DictConfig) -> Path:
    return write_text_atomic(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


# --- checkpoints ----------------------------------------------------------------------------------


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through ``atomic_write``: a kill or a full disk while a
    checkpoint is written leaves the previous one whole (Lightning's own writer truncates the
    file first and then writes it)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("distill's checkpoint writer takes no storage_options")
        atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))


def checkpoint_is_whole(path: Path) -> bool:
    """A torch checkpoint is a zip: every member reads back with its CRC (no unpickling)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def resume_checkpoint(run_dir: Path) -> Path:
    """The newest checkpoint of ``run_dir`` that reads back whole; a damaged newer one is named in
    one warning and skipped."""
    folder = run_dir / CHECKPOINT_DIR
    remove_abandoned_temps(folder)
    candidates = sorted(folder.glob("*.ckpt"), key=lambda path: path.stat().st_mtime, reverse=True)
    if not candidates:
        raise ResumeError(f"Cannot resume from {run_dir}: it has no checkpoints/*.ckpt yet.")
    for index, checkpoint in enumerate(candidates):
        if checkpoint_is_whole(checkpoint):
            if index:
                log.warning(
                    "%s is damaged (cut off while being written?); resuming from %s instead.",
                    ", ".join(str(path) for path in candidates[:index]),
                    checkpoint.name,
                )
            return checkpoint
    raise ResumeError(f"Cannot resume from {run_dir}: every checkpoint in {folder} is damaged.")


def resolve_resume(cfg: DictConfig) -> str | None:
    """Turn ``resume=<run dir>`` / ``ckpt_path=...`` into a checkpoint and continue in that run's folder.

    Continuing in the same folder is what keeps ModelCheckpoint's best/last tracking (Lightning
    only restores it when the checkpoint folder is unchanged) and the earlier CSV logs.
    """
    ckpt_path = cfg.ckpt_path
    if cfg.resume is not None:
        ckpt_path = str(resume_checkpoint(Path(cfg.resume).expanduser()))
    if ckpt_path is None:
        return None
    checkpoint = Path(ckpt_path).expanduser()
    if not checkpoint.is_file():
        raise ResumeError(
            f"Checkpoint {checkpoint} does not exist; pass ckpt_path=<run>/checkpoints/last.ckpt."
        )
    if not checkpoint_is_whole(checkpoint):
        raise ResumeError(
            f"Checkpoint {checkpoint} is damaged; pass resume=<run folder> to use its newest whole one."
        )
    if checkpoint.parent.name == CHECKPOINT_DIR:
        with open_dict(cfg):
            cfg.paths.output_dir = str(checkpoint.parent.parent.resolve())
    log.info("Resuming from %s", checkpoint)
    return str(checkpoint)


def check_resumable(model: L.LightningModule, checkpoint: str, run_dir: Path, cfg: DictConfig) -> None:
    """Refuse, in one sentence, a resume whose model settings give other weight shapes than the
    checkpoint's (another codebook size, width, layer count): Lightning would fail with a
    shape-mismatch traceback deep inside load_state_dict."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["state_dict"]
    own = model.state_dict()
    mismatched = [
        key
        for key in own.keys() | saved.keys()
        if key not in own or key not in saved or own[key].shape != saved[key].shape
    ]
    if not mismatched:
        return
    changed = _changed_settings(_model_settings_of(run_dir), OmegaConf.to_container(cfg.model, resolve=True))
    what = "; ".join(changed[:4]) if changed else f"weights {', '.join(sorted(mismatched)[:3])} differ"
    raise ResumeError(
        f"Cannot resume {run_dir} with other model settings ({what}): resume with the run's own "
        "settings, or start a new run."
    )


def _model_settings_of(run_dir: Path) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(read_run_config(run_dir).model, resolve=False)
    except (UserError, AttributeError):
        return {}


def _changed_settings(before: Any, after: Any, prefix: str = "model") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        changed = []
        for key in sorted(before.keys() | after.keys(), key=str):
            changed += _changed_settings(before.get(key), after.get(key), f"{prefix}.{key}")
        return changed
    return [] if before == after else [f"{prefix} was {before}, now {after}"]


def best_score(trainer: L.Trainer) -> float | None:
    """The monitored metric of the best checkpoint so far (None before any validation)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor is not None:
            score = callback.best_model_score
            return None if score is None else float(score)
    return None


def checkpoint_paths(trainer: L.Trainer) -> dict[str, str]:
    """The best checkpoint by the monitored metric, and the newest one."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    paths = {}
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint):
            continue
        if callback.monitor is not None:
            paths["best"] = callback.best_model_path
        elif callback.best_model_path:  # monitor=None keeps the newest as its "best"
            paths["last"] = callback.best_model_path
    return paths
