"""Package training runs (VQ-VAE, optional prior and vocoder) into one ``.distillgan`` model file.

A run is a folder written by ``distill.train.train``: ``config.yaml`` (the resolved config),
``checkpoints/last.ckpt`` and ``summary.json``; a checkpoint inside ``<run>/checkpoints/`` picks
another one. Checkpoints are read with ``torch.load(weights_only=True)`` (never unpickling code) and
no LightningModule is built: the module's weights are the checkpoint's ``state_dict`` entries under
the component's prefix (``COMPONENT_SPECS``), and each component is rebuilt once from its config
exactly as ``DistillModel.load`` will, so a file that packages is a file that loads.

Manifest metadata written here (on top of the keys ``distill.bundle.entry`` indexes):

=========================  ==========================================================================
``id``, ``name``           uuid4 hex; the model name
``created``                ISO 8601, UTC
``distill_version``        ``distill.__version__`` of the packager
``dataset``                the VQ-VAE run's dataset summary: ``root``, ``tier``, ``file_count``,
                           ``skipped_count``, ``total_duration_s``, ``train_files``, ``val_files``,
                           ``content_hashes``
``codebook``               ``levels``, ``size`` of the RVQ-VAE
``codebook_health``        ``levels``: the last training epoch's rows (``level``, ``utilization``,
                           ``perplexity``, ``dead_codes``); ``validation``: the same on held-out files
``codebook_warnings``      the run's low-utilization warnings
``training.<component>``   ``run``, ``checkpoint``, ``steps`` (the checkpoint's global step), ``epochs``,
                           ``tier``, ``final_metrics``, ``dataset`` (``root``, ``file_count``,
                           ``total_duration_s``); the prior's also ``vqvae_run``, ``vqvae_digest``
``loss_history``           ``{component: [per-epoch rows]}``
``memorization``           the prior run's ``MemorizationReport.to_dict()``, else ``null``
``vocoder``                only with a vocoder: ``type`` (the generator's kind: ``vocos``, ``hifigan``),
                           ``name``, ``steps`` (generator updates), ``vqvae_run`` (the RVQ-VAE whose
                           reconstructions it was fine-tuned on, or null), ``quality`` and
                           ``bigvgan_quality`` (``mel_l1``, ``mstft``, ``files`` on the run's
                           validation files; BigVGAN's when it was installed at packaging, else
                           null), ``final_losses``
``vqvae_digest``           ``distill.weights.state_dict_digest`` of the bundled VQ-VAE
``tags``                   sorted list of text
=========================  ==========================================================================

Destination: the model library (``library`` or ``$DISTILL_HOME``), or, when ``output`` is given,
only that file (to share or keep elsewhere; ``distill models add FILE`` registers it later).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import distill
from distill.bundle.build import COMPONENT_SPECS, build_component, mel_config_of, parse_config
from distill.bundle.catalog import ModelLibrary, default_library_root
from distill.bundle.entry import ModelEntry
from distill.bundle.errors import (
    AmbiguousModelError,
    ModelExistsError,
    ModelNotFoundError,
    PackagingError,
    PriorMismatchError,
)
from distill.bundle.format import MODEL_SUFFIX, ComponentPayload, write_model_file
from distill.files import FileSystemError, remove_abandoned_temps, temp_path_for
from distill.nn.mel_generator import MelGenerator
from distill.runs import CONFIG_FILE, SUMMARY_FILE, RunSummary, RunSummaryError, find_run
from distill.vocoders.quality import VocoderQuality
from distill.weights import state_dict_digest

_DATASET_BRIEF = ("root", "file_count", "total_duration_s")


@dataclass(frozen=True)
class ComponentRun:
    """One component as its training run left it."""

    component: str
    run_dir: Path
    checkpoint: Path
    config_yaml: str  # the run's resolved config.yaml, stored verbatim
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]  # the module's own keys (prefix stripped)
    global_step: int | None
    summary: RunSummary


@dataclass(frozen=True)
class PackagedModel:
    path: Path  # the written file: in the library, or ``output``
    metadata: dict[str, Any]
    entry: ModelEntry | None  # the library entry; None when written to ``output`` only


def read_run(component: str, run_or_checkpoint: str | Path) -> ComponentRun:
    """The component's config, weights and summary from a run folder or a checkpoint in one."""
    spec = COMPONENT_SPECS[component]
    run_dir, checkpoint = find_run(run_or_checkpoint)
    config_yaml = (run_dir / CONFIG_FILE).read_text(encoding="utf-8")
    config = parse_config(run_dir, component, config_yaml)
    model = config.get("model")
    target = model.get("_target_") if isinstance(model, dict) else None
    if target != spec.run_target:
        raise PackagingError(
            f"{run_dir} is not a {component} run (it trained {target or 'no known model'}); "
            f"give the folder of a model={component} training run."
        )
    try:
        summary = RunSummary.read(run_dir)
    except RunSummaryError as error:
        raise PackagingError(str(error)) from None
    try:
        # weights_only: a checkpoint is tensors and plain containers; reading one never runs code.
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception:  # unpickling and zip errors come in many types; all mean the same here
        # (torch's own message suggests weights_only=False, which is exactly what must not happen.)
        raise PackagingError(
            f"{checkpoint} cannot be read as a training checkpoint: it is damaged, or it holds "
            "objects other than tensors, which distill never unpickles."
        ) from None
    state = saved.get("state_dict") if isinstance(saved, dict) else None
    if not isinstance(state, dict):
        raise PackagingError(f"{checkpoint} has no state_dict; it is not a Lightning training checkpoint.")
    weights = {key[len(spec.prefix) :]: value for key, value in state.items() if key.startswith(spec.prefix)}
    if not weights:
        raise PackagingError(
            f"{checkpoint} holds no weights under {spec.prefix!r}; it is not a {component} checkpoint."
        )
    return ComponentRun(
        component=component,
        run_dir=run_dir,
        checkpoint=checkpoint,
        config_yaml=config_yaml,
        config=config,
        state_dict=weights,
        global_step=saved.get("global_step"),
        summary=summary,
    )


def _check_prior(prior: ComponentRun, vqvae: ComponentRun, vqvae_digest: str) -> str:
    """The prior's VQ-VAE digest, after checking it is the VQ-VAE being packaged."""
    recorded = prior.summary.vqvae or {}
    digest = recorded.get("digest")
    if not isinstance(digest, str):
        raise PackagingError(
            f"The prior run {prior.run_dir} does not record which VQ-VAE its codes came from "
            f"(no vqvae.digest in its {SUMMARY_FILE}); retrain it with this distill."
        )
    if digest != vqvae_digest:
        raise PriorMismatchError(prior.run_dir, vqvae.run_dir, recorded.get("run"))
    return digest


def _training(run: ComponentRun) -> dict[str, Any]:
    dataset = run.summary.dataset
    return {
        "run": str(run.run_dir.resolve()),
        "checkpoint": str(run.checkpoint.resolve()),
        "steps": run.global_step,
        "epochs": run.summary.epochs,
        "tier": run.summary.tier,
        "final_metrics": run.summary.final_metrics,
        "dataset": {key: dataset.get(key) for key in _DATASET_BRIEF},
    }


def build_metadata(
    runs: Mapping[str, ComponentRun],
    modules: Mapping[str, torch.nn.Module],
    *,
    name: str,
    tags: Iterable[str],
    vqvae_digest: str,
) -> dict[str, Any]:
    """The manifest metadata of a model packaged from ``runs`` (see the module docstring)."""
    vqvae = runs["vqvae"]
    training = {component: _training(run) for component, run in runs.items()}
    metadata: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "name": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "distill_version": distill.__version__,
        "dataset": vqvae.summary.dataset,
        "codebook": {
            "levels": modules["vqvae"].quantizer.num_levels,
            "size": modules["vqvae"].quantizer.codebook_size,
        },
        "codebook_health": {
            "levels": vqvae.summary.codebook_health,
            "validation": vqvae.summary.codebook_health_val,
        },
        "codebook_warnings": vqvae.summary.codebook_warnings,
        "training": training,
        "loss_history": {component: run.summary.loss_history for component, run in runs.items()},
        "memorization": runs["prior"].summary.memorization if "prior" in runs else None,
        # The collection's lengths and decay as the prior's data measured them (one-shot generation).
        "sounds": runs["prior"].summary.sounds if "prior" in runs else None,
        # What each control's 0..1 means: the collection's range (distill.audio.descriptors).
        "controls": runs["prior"].summary.controls if "prior" in runs else None,
        "vqvae_digest": vqvae_digest,
        "tags": sorted(set(tags)),
    }
    if "prior" in runs:
        prior_vqvae = runs["prior"].summary.vqvae
        training["prior"].update(vqvae_run=prior_vqvae.get("run"), vqvae_digest=prior_vqvae["digest"])
    if "vocoder" in runs:
        metadata["vocoder"] = _vocoder_metadata(runs["vocoder"], modules["vocoder"], modules["vqvae"])
    return metadata


def _vocoder_metadata(run: ComponentRun, generator: MelGenerator, vqvae: torch.nn.Module) -> dict[str, Any]:
    """Kind, training and held-out quality of the bundled vocoder, and BigVGAN's on the same files."""
    recorded = run.summary.vocoder or {}
    best = Path(run.summary.checkpoints.get("best") or "").name
    # The recorded quality is the best checkpoint's; another checkpoint packaged was not measured.
    is_best = run.checkpoint.name == best
    quality = VocoderQuality.from_dict(recorded.get("quality")) if is_best else None
    metrics = run.summary.final_metrics
    steps = (recorded.get("quality") or {}).get("generator_updates") if is_best else None
    fine_tuned_on = (run.config.get("model") or {}).get("vqvae")
    return {
        "type": generator.kind,
        "name": generator.display_name,
        "steps": steps if steps is not None else recorded.get("generator_updates"),
        "vqvae_run": fine_tuned_on,
        "quality": quality.as_dict() if quality is not None else None,
        # A vocoder fine-tuned on RVQ-VAE reconstructions was scored on them; BigVGAN is too.
        "bigvgan_quality": _bigvgan_quality(run, vqvae if fine_tuned_on else None),
        "final_losses": {key: value for key, value in metrics.items() if key.startswith(("train/", "val/"))},
    }


def _bigvgan_quality(run: ComponentRun, vqvae: torch.nn.Module | None) -> dict[str, Any] | None:
    """BigVGAN's quality on the vocoder run's validation files, when BigVGAN is installed and the
    files are still there (``vocoder=auto`` ranks the two by it), rendering ``vqvae``'s
    reconstructions when one is given; else None."""
    import hydra

    from distill.audio.io import UnusableAudioError, load_audio
    from distill.vocoders.bigvgan import is_available, load_bigvgan
    from distill.vocoders.quality import measure_vocoder, stft_distance_config

    dataset = run.summary.dataset
    root, names = dataset.get("root"), dataset.get("val_files") or []
    if not (root and names and is_available()):
        return None
    rate = mel_config_of(run.run_dir, "vocoder", run.config).sample_rate
    try:
        recordings = [
            torch.from_numpy(load_audio(Path(root) / name, sample_rate=rate).samples) for name in names
        ]
    except (OSError, UnusableAudioError):
        return None
    # The run's own distance (its settings missing from an older run: today's), so BigVGAN's number
    # is on the scale the run's was when both carry the same MSTFT_VERSION.
    distance = hydra.utils.instantiate(stft_distance_config(run.config["model"]["stft_distance"]))
    bigvgan = load_bigvgan()
    render = bigvgan if vqvae is None else (lambda mel: bigvgan(vqvae.reconstruct(mel)))
    return measure_vocoder(render, recordings, stft_distance=distance).as_dict()


def package_runs(
    *,
    vqvae: str | Path,
    prior: str | Path | None = None,
    vocoder: str | Path | None = None,
    name: str,
    tags: Iterable[str] = (),
    library: str | Path | None = None,
    output: str | Path | None = None,
) -> PackagedModel:
    """Build a model file from training runs and add it to the library as ``name``.

    ``output``: write the file there instead (it must end in .distillgan) and leave the library alone.
    Raises a ``UserError`` subclass with one sentence for any run or name that cannot be packaged,
    before anything is written: a run of the wrong kind or unfinished, a prior trained on another
    VQ-VAE, a vocoder on another mel, a name that is unsafe or taken.
    """
    tags = [tags] if isinstance(tags, str) else list(tags)
    lib = ModelLibrary(root=library if library is not None else default_library_root())
    lib.path_for(name)  # refuses an unsafe name before any work
    if output is not None:
        output = Path(output).expanduser()
        if output.suffix != MODEL_SUFFIX:
            raise PackagingError(f"Cannot write {output}: a model file's name must end in {MODEL_SUFFIX}.")
        if not output.parent.is_dir():
            raise PackagingError(f"Cannot write {output}: the folder {output.parent} does not exist.")
    else:
        # The stage of an earlier packaging killed here goes first, even when this one stops at a
        # taken name (a killed run may have placed its file before it could remove its stage), and
        # before any writing: on a full disk it holds the room this one needs.
        remove_abandoned_temps(lib.root)
        _check_name_free(lib, name)

    sources = {"vqvae": vqvae, "prior": prior, "vocoder": vocoder}
    runs = {
        component: read_run(component, source) for component, source in sources.items() if source is not None
    }
    vqvae_digest = state_dict_digest(runs["vqvae"].state_dict)
    if "prior" in runs:
        _check_prior(runs["prior"], runs["vqvae"], vqvae_digest)
    modules = {
        component: build_component(run.run_dir, component, run.config, run.state_dict)
        for component, run in runs.items()
    }
    if "vocoder" in runs:
        mel = mel_config_of(runs["vqvae"].run_dir, "vqvae", runs["vqvae"].config)
        if mel_config_of(runs["vocoder"].run_dir, "vocoder", runs["vocoder"].config) != mel:
            raise PackagingError(
                f"The vocoder run {runs['vocoder'].run_dir} was trained on other mel settings than "
                f"the VQ-VAE run {runs['vqvae'].run_dir}, so it cannot render that model's mels."
            )
    metadata = build_metadata(runs, modules, name=name, tags=tags, vqvae_digest=vqvae_digest)
    payloads = {
        component: ComponentPayload(state_dict=run.state_dict, config_yaml=run.config_yaml)
        for component, run in runs.items()
    }
    if output is not None:
        write_model_file(output, payloads, metadata)
        return PackagedModel(path=output, metadata=metadata, entry=None)
    lib.root.mkdir(parents=True, exist_ok=True)
    # Staged in the library folder (same disk, outside models/ so repair never sees it) under a
    # hidden pid-tagged name, which the library's next change removes if this process is killed;
    # add() copies it into place under the write lock.
    staged = temp_path_for(lib.root / f"{name}{MODEL_SUFFIX}")
    try:
        write_model_file(staged, payloads, metadata)
        entry = lib.add(staged, name=name, tags=tags)
    except FileSystemError as error:
        if error.path != staged:
            raise
        raise error.at(lib.path_for(name)) from None  # a name the user knows
    finally:
        staged.unlink(missing_ok=True)
    return PackagedModel(path=entry.path, metadata={**metadata, "tags": list(entry.tags)}, entry=entry)


def _check_name_free(library: ModelLibrary, name: str) -> None:
    """Early answer for a taken name (``add`` checks again under the lock, race-free)."""
    try:
        entry = library.get(name)
    except (ModelNotFoundError, AmbiguousModelError):
        return
    if entry.name.casefold() == name.casefold():
        raise ModelExistsError(library.root, name, f"the model {entry.name!r} already has that name")
