"""Packaging training runs into a model file: metadata, checks against mixing runs, CLI, concurrency.

Fast tests use fake runs laid out exactly as ``distill.train.train`` leaves them (config.yaml,
checkpoints/last.ckpt with Lightning's ``state_dict`` keys, summary.json) around real, tiny
modules; the real training runs are in test_model.py.
"""

from __future__ import annotations

import copy
import functools
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import pytest
import torch
from conftest import TINY_VOCODER, TINY_VQVAE, compose
from omegaconf import OmegaConf
from typer.testing import CliRunner

from distill.bundle.catalog import ModelLibrary
from distill.bundle.errors import (
    InvalidModelNameError,
    ModelExistsError,
    PackagingError,
    PriorMismatchError,
)
from distill.bundle.format import read_manifest, read_model_file
from distill.bundle.package import package_runs
from distill.cli.main import app
from distill.codes.memorization import MemorizationReport
from distill.errors import UserError
from distill.model import DistillModel
from distill.nn.prior import CodePrior
from distill.weights import state_dict_digest

DATASET = {
    "root": "/sounds",
    "tier": "small",
    "file_count": 8,
    "skipped_count": 1,
    "total_duration_s": 6.4,
    "train_files": [f"hit_{i}.wav" for i in range(7)],
    "val_files": ["hit_7.wav"],
    "content_hashes": [f"{i:064x}" for i in range(8)],
}
MEMORIZATION = MemorizationReport(
    window=2,
    n_generated=8,
    n_heldout=2,
    generated_share_mean=0.12,
    generated_share_max=0.3,
    generated_run_mean=2.5,
    generated_run_max=4,
    heldout_share_mean=0.1,
    heldout_share_max=0.2,
    heldout_run_mean=2.0,
    heldout_run_max=3,
    share_ratio=1.2,
    generated_similarity_mean=0.3,
    heldout_similarity_mean=0.25,
    similarity_ratio=1.2,
    ratio_threshold=2.0,
    min_share=0.2,
    similarity_ratio_threshold=1.5,
    flagged=False,
)


@functools.cache
def _composed(overrides: tuple[str, ...]) -> dict:
    cfg = compose(
        ["paths.cache_dir=/unused/cache", "data.path=/sounds", "data=small", *overrides],
        output_dir=Path("/unused/run"),
    )
    return OmegaConf.to_container(cfg, resolve=True)


def resolved_config(overrides: list[str]) -> dict:
    """configs/train.yaml composed and resolved, as train() writes it to <run>/config.yaml."""
    return copy.deepcopy(_composed(tuple(overrides)))


def summary(model: str, step: int, **sections) -> dict:
    return {
        "model": model,
        "tier": "small",
        "global_step": step,
        "epochs": 2,
        "final_metrics": {"train/loss": 1.5, "val/loss": 1.25, "lr/vqvae": 0.001},
        "dataset": DATASET,
        "checkpoints": {"last": "checkpoints/last.ckpt"},
        "loss_history": [
            {"epoch": 0, "step": step // 2, "val/loss": 2.0},
            {"epoch": 1, "step": step, "val/loss": 1.25},
        ],
        **sections,
    }


def write_run(run_dir: Path, *, config: dict, weights: dict, prefix: str, summary: dict) -> Path:
    """A run folder as train() leaves it; the checkpoint holds other modules' keys too."""
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    state = {f"{prefix}{key}": value for key, value in weights.items()}
    state["skipped_steps"] = torch.zeros((), dtype=torch.long)  # a LightningModule buffer outside the net
    checkpoint = {"state_dict": state, "global_step": summary["global_step"], "epoch": 1}
    torch.save(checkpoint, run_dir / "checkpoints" / "last.ckpt")
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def fake_vqvae_run(run_dir: Path, *, seed: int = 0):
    config = resolved_config(TINY_VQVAE)
    torch.manual_seed(seed)
    net = hydra.utils.instantiate(config["model"]["net"]).eval()
    health = [
        {"level": i, "utilization": u, "perplexity": 40.0 - i, "dead_codes": 3 + i}
        for i, u in enumerate((0.9, 0.55))
    ]
    sections = {
        "codebook_health": health,
        "codebook_health_val": health[::-1],
        "codebook_warnings": ["epoch 1: codebook level 1 utilization 25.0% is below 30%"],
    }
    run = write_run(
        run_dir,
        config=config,
        weights=net.state_dict(),
        prefix="net.",
        summary=summary("distill.models.vqvae.VQVAEModule", 12, **sections),
    )
    return run, net


def fake_prior_run(run_dir: Path, vqvae_run: Path, vqvae_digest: str | None):
    net_config = {
        "_target_": "distill.nn.prior.CodePrior",
        "levels": 2,
        "rows": 8,
        "codebook_size": 64,
        "hidden": 16,
        "layers": 1,
        "heads": 2,
        "context_columns": 4,
        "dropout": 0.0,
    }
    prior = CodePrior(**{k: v for k, v in net_config.items() if k != "_target_"}).eval()
    config = {
        "model": {"_target_": "distill.models.prior.PriorModule", "vqvae": str(vqvae_run), "net": net_config}
    }
    sections = {"memorization": MEMORIZATION.to_dict()}
    if vqvae_digest is not None:
        sections["vqvae"] = {"run": str(vqvae_run), "digest": vqvae_digest}
    summary_ = summary("distill.models.prior.PriorModule", 40, **sections)
    return write_run(
        run_dir, config=config, weights=prior.state_dict(), prefix="net.", summary=summary_
    ), prior


def fake_vocoder_run(run_dir: Path, *, overrides: tuple[str, ...] = ()):
    config = resolved_config([*TINY_VOCODER, *overrides])
    generator = hydra.utils.instantiate(config["model"]["generator"])
    final = {"train/mel_l1": 0.8, "val/mel_l1": 0.9, "val/mstft": 2.1, "lr/generator": 2e-4}
    # What VocoderQualityRecord writes: the best epoch's held-out scores and the generator updates.
    quality = {
        "mel_l1": 0.85,
        "mstft": 2.0,
        "files": 2,
        "mstft_version": 2,
        "epoch": 0,
        "generator_updates": 10,
    }
    recorded = {"type": "vocos", "name": "Vocos", "generator_updates": 14, "quality": quality}
    summary_ = {
        **summary("distill.models.vocoder.VocoderModule", 24),
        "final_metrics": final,
        "vocoder": recorded,
        "checkpoints": {"best": str(run_dir / "checkpoints" / "last.ckpt")},  # the one measured
    }
    return write_run(
        run_dir, config=config, weights=generator.state_dict(), prefix="generator.", summary=summary_
    ), generator


@dataclass
class FakeRuns:
    vqvae: Path
    prior: Path
    vocoder: Path
    vqvae_net: torch.nn.Module
    prior_net: CodePrior
    generator: torch.nn.Module


def make_fake_runs(tmp_path: Path) -> FakeRuns:
    vqvae, vqvae_net = fake_vqvae_run(tmp_path / "runs" / "vqvae")
    prior, prior_net = fake_prior_run(
        tmp_path / "runs" / "prior", vqvae, state_dict_digest(vqvae_net.state_dict())
    )
    vocoder, generator = fake_vocoder_run(tmp_path / "runs" / "vocoder")
    return FakeRuns(vqvae, prior, vocoder, vqvae_net, prior_net, generator)


@pytest.fixture
def runs(tmp_path: Path) -> FakeRuns:
    return make_fake_runs(tmp_path)


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    return ModelLibrary(root=tmp_path / "library")


def assert_same_state(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


def test_package_registers_the_model_with_its_training_record(runs: FakeRuns, library: ModelLibrary) -> None:
    packaged = package_runs(
        vqvae=runs.vqvae,
        prior=runs.prior,
        vocoder=runs.vocoder,
        name="drums",
        tags=["kit", "acoustic"],
        library=library.root,
    )
    entry = library.get("drums")
    assert packaged.entry == entry and packaged.path == library.path_for("drums")
    assert entry.components == ("vqvae", "prior", "vocoder")
    assert (entry.tier, entry.file_count, entry.duration_s) == ("small", 8, 6.4)
    # The kind is the generator's own; the steps are the packaged (best) checkpoint's generator updates.
    assert (entry.vocoder_type, entry.vocoder_steps, entry.vocoder_mstft) == ("vocos", 10, 2.0)
    assert entry.min_codebook_utilization == 0.55 and entry.tags == ("acoustic", "kit")

    meta = read_manifest(entry.path).metadata
    assert meta == packaged.metadata
    assert len(meta["id"]) == 32 and meta["created"].endswith("+00:00")
    assert meta["distill_version"] and meta["dataset"] == DATASET
    assert meta["codebook"] == {"levels": 2, "size": 64}
    assert [row["utilization"] for row in meta["codebook_health"]["levels"]] == [0.9, 0.55]
    assert [row["level"] for row in meta["codebook_health"]["validation"]] == [1, 0]
    assert meta["codebook_warnings"][0].startswith("epoch 1: codebook level 1")
    assert meta["vqvae_digest"] == state_dict_digest(runs.vqvae_net.state_dict())
    training = meta["training"]
    assert training["vqvae"]["run"] == str(runs.vqvae.resolve())
    assert training["vqvae"]["checkpoint"].endswith("checkpoints/last.ckpt")
    assert (training["vqvae"]["steps"], training["prior"]["steps"], training["vocoder"]["steps"]) == (
        12,
        40,
        24,
    )
    assert training["vqvae"]["final_metrics"]["val/loss"] == 1.25 and training["vqvae"]["epochs"] == 2
    assert training["prior"]["vqvae_digest"] == meta["vqvae_digest"]
    assert training["prior"]["vqvae_run"] == str(runs.vqvae)
    assert training["vocoder"]["dataset"] == {"root": "/sounds", "file_count": 8, "total_duration_s": 6.4}
    assert {name: len(rows) for name, rows in meta["loss_history"].items()} == {
        "vqvae": 2,
        "prior": 2,
        "vocoder": 2,
    }
    assert meta["memorization"] == MEMORIZATION.to_dict()
    assert meta["vocoder"] == {
        "type": "vocos",
        "name": "Vocos",
        "steps": 10,
        "vqvae_run": None,
        "quality": {"mel_l1": 0.85, "mstft": 2.0, "files": 2, "mstft_version": 2},
        "bigvgan_quality": None,  # BigVGAN is not installed with weights here
        "final_losses": {"train/mel_l1": 0.8, "val/mel_l1": 0.9, "val/mstft": 2.1},
    }
    # The stored config is the run's resolved config.yaml, verbatim.
    contents = read_model_file(entry.path)
    assert contents.components["vqvae"].config_yaml == (runs.vqvae / "config.yaml").read_text()
    assert "skipped_steps" not in contents.components["vqvae"].state_dict
    assert not list(library.root.rglob(".*"))  # no stage or temp file left


def test_packaged_model_loads_with_the_runs_weights(runs: FakeRuns, library: ModelLibrary) -> None:
    package_runs(vqvae=runs.vqvae, prior=runs.prior, vocoder=runs.vocoder, name="drums", library=library.root)
    model = DistillModel.load("drums", library=library.root)
    assert_same_state(model.vqvae.state_dict(), runs.vqvae_net.state_dict())
    assert_same_state(model.prior.state_dict(), runs.prior_net.state_dict())
    runs.generator.remove_weight_norm()  # the loaded vocoder is folded for inference
    assert_same_state(model.vocoder_generator.state_dict(), runs.generator.state_dict())
    codes = torch.randint(0, 64, (1, 2, 8, 3))
    assert torch.equal(model.vqvae.decode(codes), runs.vqvae_net.decode(codes))


def test_bigvgan_is_measured_on_the_vocoders_validation_files_when_installed(
    runs: FakeRuns, tmp_path: Path, monkeypatch
) -> None:
    from conftest import write_tone

    import distill.vocoders.bigvgan as bigvgan

    class LoudStub:  # stands in for BigVGAN: renders a fixed tone whatever the mel
        def __call__(self, mel):
            t = torch.arange(mel.shape[-1] * 512) / 44100
            return (0.1 * torch.sin(2 * torch.pi * 440 * t)).expand(mel.shape[0], 1, -1)

    sounds = tmp_path / "sounds"
    write_tone(sounds / "kit" / "snare.wav", seconds=0.5)
    summary_path = runs.vocoder / "summary.json"
    saved = summary_path.read_text()
    recorded = json.loads(saved)
    recorded["dataset"] = {**recorded["dataset"], "root": str(sounds), "val_files": ["kit/snare.wav"]}
    summary_path.write_text(json.dumps(recorded))
    monkeypatch.setattr(bigvgan, "is_available", lambda source=bigvgan.HUB_ID: True)
    monkeypatch.setattr(bigvgan, "load_bigvgan", lambda source=bigvgan.HUB_ID: LoudStub())
    try:
        packaged = package_runs(
            vqvae=runs.vqvae, vocoder=runs.vocoder, name="b", output=tmp_path / "b.distillgan"
        )
    finally:
        summary_path.write_text(saved)
    measured = packaged.metadata["vocoder"]["bigvgan_quality"]
    assert measured["files"] == 1 and measured["mstft"] > 0 and measured["mel_l1"] > 0
    model = DistillModel.load(packaged.path)
    assert model.vocoder_quality("bigvgan").mstft == pytest.approx(measured["mstft"])
    assert model.vocoder_quality("own").mstft == 2.0


def test_a_checkpoint_other_than_the_measured_one_carries_no_quality(runs: FakeRuns, tmp_path: Path) -> None:
    other = runs.vocoder / "checkpoints" / "interrupted.ckpt"
    other.write_bytes((runs.vocoder / "checkpoints" / "last.ckpt").read_bytes())
    packaged = package_runs(vqvae=runs.vqvae, vocoder=other, name="i", output=tmp_path / "i.distillgan")
    assert packaged.metadata["vocoder"]["quality"] is None
    assert packaged.metadata["vocoder"]["steps"] == 14  # the run's final generator updates


def test_prior_alone_or_vocoder_alone_is_optional(runs: FakeRuns, tmp_path: Path) -> None:
    only_vqvae = package_runs(vqvae=runs.vqvae, name="plain", output=tmp_path / "plain.distillgan")
    assert only_vqvae.metadata["memorization"] is None and "vocoder" not in only_vqvae.metadata
    assert read_manifest(only_vqvae.path).components == ("vqvae",)
    with_vocoder = package_runs(
        vqvae=runs.vqvae, vocoder=runs.vocoder, name="v", output=tmp_path / "v.distillgan"
    )
    assert read_manifest(with_vocoder.path).components == ("vqvae", "vocoder")


def test_output_writes_only_that_file(runs: FakeRuns, tmp_path: Path, library: ModelLibrary) -> None:
    out = tmp_path / "share" / "drums.distillgan"
    out.parent.mkdir()
    packaged = package_runs(
        vqvae=runs.vqvae / "checkpoints" / "last.ckpt",  # a checkpoint inside a run works too
        prior=runs.prior,
        name="drums",
        tags=["kit"],
        library=library.root,
        output=out,
    )
    assert packaged.entry is None and packaged.path == out
    assert read_manifest(out).metadata["tags"] == ["kit"]
    assert not library.root.exists()
    with pytest.raises(PackagingError, match=r"must end in \.distillgan"):
        package_runs(vqvae=runs.vqvae, name="x", output=tmp_path / "x.distill")
    with pytest.raises(PackagingError, match="does not exist"):
        package_runs(vqvae=runs.vqvae, name="x", output=tmp_path / "missing" / "x.distillgan")


def test_prior_of_another_vqvae_is_refused(runs: FakeRuns, tmp_path: Path, library: ModelLibrary) -> None:
    other, _ = fake_vqvae_run(tmp_path / "runs" / "other-vqvae", seed=1)
    with pytest.raises(PriorMismatchError) as refused:
        package_runs(vqvae=other, prior=runs.prior, name="mixed", library=library.root)
    message = str(refused.value)
    assert message.count(". ") == 0 and message.endswith("it was trained on.")
    assert str(runs.prior) in message and str(other) in message and f"({runs.vqvae})" in message
    assert library.list() == []


def test_prior_that_does_not_name_its_vqvae_is_refused(runs: FakeRuns, tmp_path: Path) -> None:
    anonymous, _ = fake_prior_run(tmp_path / "runs" / "anonymous", runs.vqvae, vqvae_digest=None)
    with pytest.raises(PackagingError, match="does not record which VQ-VAE"):
        package_runs(vqvae=runs.vqvae, prior=anonymous, name="x", output=tmp_path / "x.distillgan")


def test_vocoder_on_another_mel_is_refused(runs: FakeRuns, tmp_path: Path) -> None:
    other, _ = fake_vocoder_run(tmp_path / "runs" / "voc-16k", overrides=("+data.mel.f_max=16000",))
    with pytest.raises(PackagingError, match="other mel settings"):
        package_runs(vqvae=runs.vqvae, vocoder=other, name="x", output=tmp_path / "x.distillgan")


def test_runs_of_the_wrong_kind_or_unfinished_are_refused(runs: FakeRuns, tmp_path: Path) -> None:
    out = tmp_path / "x.distillgan"
    with pytest.raises(PackagingError, match=r"is not a vqvae run .*model=vqvae"):
        package_runs(vqvae=runs.vocoder, name="x", output=out)
    with pytest.raises(PackagingError, match="is not a prior run"):
        package_runs(vqvae=runs.vqvae, prior=runs.vqvae, name="x", output=out)
    (runs.vocoder / "summary.json").unlink()
    with pytest.raises(PackagingError, match="has no summary.json"):
        package_runs(vqvae=runs.vqvae, vocoder=runs.vocoder, name="x", output=out)
    torch.save({"epoch": 1}, runs.vqvae / "checkpoints" / "last.ckpt")
    with pytest.raises(PackagingError, match="has no state_dict"):
        package_runs(vqvae=runs.vqvae, name="x", output=out)
    (runs.vqvae / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(PackagingError, match="cannot be read as a training checkpoint"):
        package_runs(vqvae=runs.vqvae, name="x", output=out)
    with pytest.raises(UserError, match="No checkpoint at"):
        package_runs(vqvae=tmp_path / "nowhere", name="x", output=out)
    assert not out.exists()


def test_checkpoint_pickles_are_never_run(runs: FakeRuns, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Trap:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"state_dict": {}, "trap": Trap()}, runs.vqvae / "checkpoints" / "last.ckpt")
    with pytest.raises(PackagingError, match="cannot be read as a training checkpoint"):
        package_runs(vqvae=runs.vqvae, name="x", output=tmp_path / "x.distillgan")
    assert not marker.exists()


def test_unsafe_or_taken_names_are_refused_before_any_run_is_read(
    runs: FakeRuns, tmp_path: Path, library: ModelLibrary
) -> None:
    for name in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(InvalidModelNameError):
            package_runs(vqvae=tmp_path / "never-read", name=name, library=library.root)
    package_runs(vqvae=runs.vqvae, name="drums", library=library.root)
    with pytest.raises(ModelExistsError, match="already has that name"):
        package_runs(vqvae=tmp_path / "never-read", name="DRUMS", library=library.root)


def test_package_command_registers_and_reports(runs: FakeRuns, library: ModelLibrary) -> None:
    args = ["package", "--vqvae", str(runs.vqvae), "--prior", str(runs.prior), "--vocoder", str(runs.vocoder)]
    args += ["--name", "drums", "--tag", "kit", "--tag", "live", "--library", str(library.root)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    entry = library.get("drums")
    assert "drums" in result.output and entry.id[:8] in result.output and str(entry.path) in result.output
    assert entry.tags == ("kit", "live") and entry.components == ("vqvae", "prior", "vocoder")


@pytest.mark.slow
def test_eight_concurrent_package_processes_make_eight_entries(runs: FakeRuns, library: ModelLibrary) -> None:
    count = 8
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "distill.cli.main", "package", "--vqvae", str(runs.vqvae)]
            + ["--prior", str(runs.prior), "--name", f"m{i}", "--library", str(library.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(count)
    ]
    for child in children:
        _, stderr = child.communicate(timeout=600)
        assert child.returncode == 0, stderr.decode()
    entries = library.list()
    assert [entry.name for entry in entries] == [f"m{i}" for i in range(count)]
    assert len({entry.id for entry in entries}) == count
    assert sorted(p.name for p in library.models_dir.iterdir()) == [f"m{i}.distillgan" for i in range(count)]
    with sqlite3.connect(library.index_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM models").fetchone() == (count,)
    assert not list(library.root.rglob(".*"))  # no stage or temp file left
