"""DistillModel: load/save round trips, atomic saves, configs that must never run code, vocoders.

Fast tests package the fake runs of test_package.py; the slow ones package real tiny training runs
(one module-scoped fixture) and check the loaded model against the trained LightningModules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from test_package import FakeRuns, assert_same_state, make_fake_runs

from distill.audio.mel import MelConfig
from distill.bundle import format as bundle_format
from distill.bundle.catalog import ModelLibrary
from distill.bundle.errors import (
    CorruptModelFileError,
    InconsistentModelFileError,
    ModelNotFoundError,
    NotAModelFileError,
    RetiredArchitectureError,
    UnsafeConfigError,
)
from distill.bundle.format import ComponentPayload, read_model_file, write_model_file
from distill.bundle.package import package_runs
from distill.errors import UserError
from distill.model import DistillModel
from distill.nn.conv_codec import ConvEncoder
from distill.nn.prior import CodePrior
from distill.nn.vocos import VocosGenerator
from distill.nn.vqvae import RVQVAE
from distill.runs import RunSummary
from distill.vocoders.generator import GeneratorVocoder


# Module-scoped: the tests only read the runs and the model file (changed copies go to tmp_path).
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> FakeRuns:
    return make_fake_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def model_path(runs: FakeRuns, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "drums.distillgan"
    package_runs(vqvae=runs.vqvae, prior=runs.prior, vocoder=runs.vocoder, name="drums", output=out)
    return out


def rewrite(source: Path, dest: Path, *, configs: dict[str, str] | None = None, **metadata) -> Path:
    """``source`` with some component configs or metadata keys replaced (checksums made to match)."""
    contents = read_model_file(source)
    components = {
        name: ComponentPayload(payload.state_dict, (configs or {}).get(name, payload.config_yaml))
        for name, payload in contents.components.items()
    }
    write_model_file(dest, components, {**contents.metadata, **metadata})
    return dest


def vqvae_config_with(model_path: Path, node: str, value) -> str:
    """The model's VQ-VAE config with ``node`` (dotted) set to ``value``."""
    config = yaml.safe_load(read_model_file(model_path).components["vqvae"].config_yaml)
    *parents, last = node.split(".")
    target = config
    for key in parents:
        target = target[key]
    target[last] = value
    return yaml.safe_dump(config)


def test_load_rebuilds_every_component_in_eval_mode(model_path: Path, runs: FakeRuns) -> None:
    model = DistillModel.load(model_path)
    assert model.components == ("vqvae", "prior", "vocoder") and model.path == model_path
    assert isinstance(model.vqvae, RVQVAE) and isinstance(model.prior, CodePrior)
    assert isinstance(model.vocoder_generator, VocosGenerator)
    assert not any(m.training for m in (model.vqvae, model.prior, model.vocoder_generator))
    assert model.mel_config == MelConfig()
    assert model.name == "drums" and model.id == model.metadata["id"] and len(model.id) == 32
    assert_same_state(model.prior.state_dict(), runs.prior_net.state_dict())
    assert "drums" in repr(model)


def test_save_then_load_gives_identical_weights_and_metadata(model_path: Path, tmp_path: Path) -> None:
    model = DistillModel.load(model_path)
    copy = DistillModel.load(model.save(tmp_path / "copy.distillgan"))
    assert copy.metadata == model.metadata and copy.components == model.components
    for name in ("vqvae", "prior", "vocoder_generator"):
        assert_same_state(getattr(copy, name).state_dict(), getattr(model, name).state_dict())
    codes = torch.randint(0, 64, (2, 2, 8, 4))
    assert torch.equal(copy.vqvae.decode(codes, 50), model.vqvae.decode(codes, 50))


def test_a_crash_mid_save_leaves_the_old_file_whole(model_path: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "keep" / "drums.distillgan"
    target.parent.mkdir()
    model = DistillModel.load(model_path)
    model.save(target)
    before = target.read_bytes()

    def power_cut(handle, entries) -> None:
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("power cut")

    monkeypatch.setattr(bundle_format, "_write_zip", power_cut)
    model.metadata["tags"] = ["changed"]
    with pytest.raises(OSError, match="power cut"):
        model.save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["drums.distillgan"]  # no temp file left
    DistillModel.load(target)


def test_saving_a_vqvae_the_prior_was_not_trained_on_is_refused(model_path: Path, tmp_path: Path) -> None:
    model = DistillModel.load(model_path)
    with torch.no_grad():
        next(model.vqvae.parameters()).add_(1.0)
    with pytest.raises(ValueError, match="not those the prior was trained on"):
        model.save(tmp_path / "tuned.distillgan")
    assert not (tmp_path / "tuned.distillgan").exists()


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "builtins.exec",
        "distill.nn.vqvae.torch.load",  # reaches an imported module through a distill.nn module
        "distill.nn.hifigan.weight_norm",  # a function imported into distill.nn, not a module class
        "distill.nn.quantizer.ResidualVQ",  # an nn.Module, but vector-quantize-pytorch's
        "distill.nn.no_such_module.Thing",
        "distill.nn.vqvae.VQVAEOutput",  # ours, but a dataclass, not an nn.Module
        ["os.system"],
    ],
)
def test_a_config_naming_anything_but_a_distill_module_is_refused_unrun(
    model_path: Path, tmp_path: Path, target
) -> None:
    marker = tmp_path / "ran"
    node = {"_target_": target, "command": f"touch {marker}"}
    config = vqvae_config_with(model_path, "model.net", node)
    bad = rewrite(model_path, tmp_path / "bad.distillgan", configs={"vqvae": config})
    with pytest.raises(UnsafeConfigError) as refused:
        DistillModel.load(bad)
    assert "may only build modules from distill.nn" in str(refused.value)
    assert not marker.exists()


def test_an_unsafe_target_deep_inside_is_refused_before_anything_is_built(
    model_path: Path, tmp_path: Path, monkeypatch
) -> None:
    built = []  # the encoder comes before the decoder: a check made while building would build it
    monkeypatch.setattr(ConvEncoder, "__init__", lambda self, **kwargs: built.append(kwargs))
    nested = vqvae_config_with(
        model_path, "model.net.decoder.channels", [{"_target_": "subprocess.Popen", "args": ["true"]}]
    )
    with pytest.raises(UnsafeConfigError, match="subprocess.Popen"):
        DistillModel.load(rewrite(model_path, tmp_path / "nested.distillgan", configs={"vqvae": nested}))
    mel = vqvae_config_with(model_path, "data.mel", {"_target_": "os.system", "command": "true"})
    with pytest.raises(UnsafeConfigError, match="os.system"):
        DistillModel.load(rewrite(model_path, tmp_path / "mel.distillgan", configs={"vqvae": mel}))
    assert built == []


def test_a_prior_of_a_deleted_architecture_is_refused_with_what_to_do(
    model_path: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(read_model_file(model_path).components["prior"].config_yaml)
    config["model"]["net"]["_target_"] = "distill.nn.column_prior.ColumnPrior"  # measured and deleted
    old = rewrite(model_path, tmp_path / "column.distillgan", configs={"prior": yaml.safe_dump(config)})
    with pytest.raises(RetiredArchitectureError) as refused:
        DistillModel.load(old)
    message = str(refused.value)
    assert "made with the column prior" in message and "retrain its prior" in message
    assert "\n" not in message and isinstance(refused.value, UserError)


def test_yaml_tags_and_hydra_call_keys_are_refused(model_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tagged = f"model:\n  net: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(CorruptModelFileError, match="not valid YAML"):
        DistillModel.load(rewrite(model_path, tmp_path / "tag.distillgan", configs={"vqvae": tagged}))
    assert not marker.exists()
    partial = vqvae_config_with(model_path, "model.net._partial_", True)
    with pytest.raises(CorruptModelFileError, match="uses _partial_"):
        DistillModel.load(rewrite(model_path, tmp_path / "partial.distillgan", configs={"vqvae": partial}))


def test_configs_and_weights_that_do_not_fit_are_refused(model_path: Path, tmp_path: Path) -> None:
    wide = vqvae_config_with(model_path, "model.net.encoder.latent_dim", 16)
    with pytest.raises(CorruptModelFileError, match="does not build a RVQVAE"):
        DistillModel.load(rewrite(model_path, tmp_path / "wide.distillgan", configs={"vqvae": wide}))
    levels = vqvae_config_with(model_path, "model.net.quantizer.num_levels", 3)
    with pytest.raises(CorruptModelFileError, match="vqvae weights do not fit its config"):
        DistillModel.load(rewrite(model_path, tmp_path / "levels.distillgan", configs={"vqvae": levels}))
    swapped = read_model_file(model_path).components["vocoder"].config_yaml
    with pytest.raises(CorruptModelFileError, match="has no model.net node"):
        DistillModel.load(rewrite(model_path, tmp_path / "swap.distillgan", configs={"vqvae": swapped}))


def test_a_vocoder_config_outside_the_family_is_refused(model_path: Path, tmp_path: Path) -> None:
    # A distill.nn module, but no MelGenerator: the vocoder component must be one of the family.
    config = yaml.safe_load(read_model_file(model_path).components["vocoder"].config_yaml)
    config["model"]["generator"] = {
        "_target_": "distill.nn.discriminators.MultiResolutionDiscriminator",
        "resolutions": [[512, 128, 512]],
        "channels": 4,
        "leaky_relu_slope": 0.1,
    }
    outside = rewrite(
        model_path, tmp_path / "outside.distillgan", configs={"vocoder": yaml.safe_dump(config)}
    )
    with pytest.raises(
        CorruptModelFileError, match="builds a MultiResolutionDiscriminator, not a MelGenerator"
    ):
        DistillModel.load(outside)
    config["model"]["generator"] = {"_target_": "torch.nn.Identity"}
    foreign = rewrite(
        model_path, tmp_path / "foreign.distillgan", configs={"vocoder": yaml.safe_dump(config)}
    )
    with pytest.raises(UnsafeConfigError, match="torch.nn.Identity"):
        DistillModel.load(foreign)


def test_a_prior_of_another_vqvae_is_refused_at_load(model_path: Path, tmp_path: Path) -> None:
    meta = read_model_file(model_path).metadata
    training = json.loads(json.dumps(meta["training"]))
    training["prior"]["vqvae_digest"] = "0" * 64
    with pytest.raises(InconsistentModelFileError, match="prior was trained on the codes of another VQ-VAE"):
        DistillModel.load(rewrite(model_path, tmp_path / "other.distillgan", training=training))
    del training["prior"]["vqvae_digest"]
    with pytest.raises(InconsistentModelFileError, match="does not record which VQ-VAE"):
        DistillModel.load(rewrite(model_path, tmp_path / "unknown.distillgan", training=training))
    with pytest.raises(InconsistentModelFileError, match="VQ-VAE weights are not the ones"):
        DistillModel.load(rewrite(model_path, tmp_path / "digest.distillgan", vqvae_digest="f" * 64))


def test_a_model_without_prior_or_vocoder_is_valid(runs: FakeRuns, tmp_path: Path) -> None:
    out = tmp_path / "plain.distillgan"
    package_runs(vqvae=runs.vqvae, name="plain", output=out)
    model = DistillModel.load(out)
    assert model.components == ("vqvae",) and model.prior is None and model.vocoder_generator is None
    with pytest.raises(UserError, match="no vocoder of its own"):
        model.vocoder("bundled")
    with pytest.raises(UserError, match="train one with"):
        model.vocoder("auto", bigvgan_source=tmp_path / "no-bigvgan-here")
    assert DistillModel.load(model.save(tmp_path / "again.distillgan")).components == ("vqvae",)


def test_vocoder_is_the_bundled_one_built_once(model_path: Path) -> None:
    model = DistillModel.load(model_path)
    vocoder = model.vocoder()
    assert isinstance(vocoder, GeneratorVocoder) and vocoder.kind == "vocos" and vocoder.sample_rate == 44100
    assert model.vocoder("auto") is vocoder and model.vocoder("bundled") is vocoder
    wave = vocoder(torch.full((1, 128, 5), -5.0))
    assert wave.shape == (1, 1, 5 * 512) and torch.isfinite(wave).all()
    with pytest.raises(UserError, match="Unknown vocoder"):
        model.vocoder("wavenet")


def test_load_by_library_name_or_id(model_path: Path, tmp_path: Path) -> None:
    library = ModelLibrary(root=tmp_path / "library")
    entry = library.add(model_path, name="kit")
    assert DistillModel.load("kit", library=library.root).id == entry.id
    assert DistillModel.load(entry.id[:8], library=library.root).name == "kit"
    with pytest.raises(ModelNotFoundError):
        DistillModel.load("snares", library=library.root)
    with pytest.raises(NotAModelFileError, match="no such file"):
        DistillModel.load(str(tmp_path / "missing.distillgan"))


# --- real training runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(trained_runs: dict[str, Path]) -> dict[str, Path]:
    """The session's tiny VQ-VAE and vocoder runs trained with distill.train.train."""
    return trained_runs


@pytest.mark.slow
def test_real_runs_round_trip_through_a_model_file(trained: dict[str, Path], tmp_path: Path) -> None:
    from distill.models.loading import load_trained_module, load_vocoder

    packaged = package_runs(
        vqvae=trained["vqvae"], vocoder=trained["vocoder"], name="tones", library=tmp_path / "lib"
    )
    model = DistillModel.load("tones", library=tmp_path / "lib")

    module, _ = load_trained_module(trained["vqvae"])
    assert_same_state(model.vqvae.state_dict(), module.net.state_dict())
    mel = torch.randn(1, 128, 40) - 4.0
    codes = model.vqvae.encode(mel)
    assert torch.equal(codes, module.net.encode(mel))
    assert torch.equal(model.vqvae.decode(codes, 40), module.net.decode(codes, 40))

    reference = load_vocoder(trained["vocoder"])
    assert_same_state(model.vocoder_generator.state_dict(), reference.generator.state_dict())
    assert torch.equal(model.vocoder("bundled")(mel), reference(mel))

    summary = RunSummary.read(trained["vqvae"]).to_dict()
    meta = packaged.metadata
    assert meta["dataset"] == summary["dataset"] and meta["dataset"]["file_count"] == 8
    assert meta["codebook_health"]["levels"] == summary["codebook_health"]
    assert len(meta["codebook_health"]["levels"]) == 2
    assert meta["loss_history"]["vqvae"] == summary["loss_history"]
    # A run folder stands for its best checkpoint: the steps are that checkpoint's.
    best = Path(summary["checkpoints"]["best"])
    assert meta["training"]["vqvae"]["checkpoint"] == str(best)
    assert meta["training"]["vqvae"]["steps"] == torch.load(best, weights_only=True)["global_step"] > 0
    # Lightning counts both optimizers' steps; the entry counts the packaged checkpoint's generator
    # updates, as its quality was measured on (the best by val/loss), and its kind is its own.
    vocoder_summary = RunSummary.read(trained["vocoder"]).to_dict()
    vocoder_best = torch.load(vocoder_summary["checkpoints"]["best"], weights_only=True)
    assert meta["vocoder"]["steps"] == int(vocoder_best["state_dict"]["generator_updates"]) > 0
    assert meta["vocoder"]["type"] == "vocos" and meta["vocoder"]["quality"]["files"] >= 1
    assert packaged.entry.min_codebook_utilization == min(
        row["utilization"] for row in summary["codebook_health"]
    )


def test_a_prior_saved_before_its_clock_loads_without_it_and_a_timed_one_keeps_it(
    model_path: Path, tmp_path: Path
) -> None:
    """A prior config without ``timing`` (every model file before the clock) builds an untimed
    prior; a timed prior's clock survives the file; a clock without the config is refused."""
    assert DistillModel.load(model_path).prior.timing_embedding is None
    contents = read_model_file(model_path)
    config = yaml.safe_load(contents.components["prior"].config_yaml)
    config["model"]["net"]["timing"] = True
    timed = CodePrior(**{k: v for k, v in config["model"]["net"].items() if k != "_target_"}).eval()
    with torch.no_grad():
        timed.timing_embedding.net[2].weight.normal_()  # a clock that has learned something
    components = dict(contents.components)
    components["prior"] = ComponentPayload(timed.state_dict(), yaml.safe_dump(config))
    write_model_file(tmp_path / "timed.distillgan", components, contents.metadata)
    loaded = DistillModel.load(tmp_path / "timed.distillgan").prior
    assert loaded.timing and loaded.timing_embedding is not None
    assert_same_state(loaded.state_dict(), timed.state_dict())
    components["prior"] = ComponentPayload(timed.state_dict(), contents.components["prior"].config_yaml)
    write_model_file(tmp_path / "mixed.distillgan", components, contents.metadata)
    with pytest.raises(CorruptModelFileError, match="prior weights do not fit its config"):
        DistillModel.load(tmp_path / "mixed.distillgan")
