"""Every option of every config group composes, and everything with a _target_ instantiates."""

from pathlib import Path

import hydra
import pytest
from conftest import CONFIG_DIR, make_sound_folder
from omegaconf import OmegaConf

from distill.config import load_option, options
from distill.models.regularisation import InputNoiseByAudio
from distill.train import instantiate_callbacks, instantiate_loggers


def test_every_group_has_its_options():
    assert options("data") == ["auto", "large", "medium", "small"]
    assert options("trainer") == ["cpu", "ddp", "gpu"]
    assert options("logger") == ["csv", "many", "wandb"]
    assert options("codebook") == ["k128", "k256", "k64", "tier"]
    assert options("model") == ["prior", "vocoder", "vqvae"]
    assert options("model/discriminator") == ["full", "light", "mrd"]
    assert options("model/prior_net") == ["cell", "flat"]


def fake_vqvae_run(
    run_dir: Path, folder: Path, mel: dict | None = None, bands_per_row: int | None = None
) -> Path:
    """A run folder with just the config.yaml the prior's config reads its grid shape from
    (``mel``: its data.mel node; none, as a config.yaml may lack one; ``bands_per_row``: its
    encoder's, none as in runs from before it was a setting)."""
    run_dir.mkdir(parents=True)
    net = {"quantizer": {"num_levels": 3, "codebook_size": 64}}
    if bands_per_row is not None:
        net["encoder"] = {"bands_per_row": bands_per_row}
    settings = {
        "model": {"net": net},
        "data": {"path": str(folder), **({"mel": mel} if mel is not None else {})},
    }
    OmegaConf.save(OmegaConf.create(settings), run_dir / "config.yaml")
    return run_dir


def test_prior_takes_grid_shape_and_folder_from_its_vqvae_run(compose_cfg, tmp_path: Path):
    run = fake_vqvae_run(tmp_path / "vq", tmp_path / "sounds")
    cfg = compose_cfg(["model=prior", f"model.vqvae={run}", "data=medium"])
    assert (cfg.model.net.levels, cfg.model.net.codebook_size, cfg.model.net.rows) == (3, 64, 8)
    assert (cfg.model.net.hidden, cfg.model.net.layers) == (256, 4)
    assert cfg.data.path == str(tmp_path / "sounds") and cfg.data.vqvae == str(run)
    assert cfg.data._target_ == "distill.data.codes.CodeGridDataModule"


def test_the_prior_reads_its_rows_from_the_vqvae_runs_mel(compose_cfg, tmp_path: Path):
    """Rows = the run's mel bands / the cell (16); a run's config.yaml names the mel by its target."""
    target = {"_target_": "distill.audio.mel.MelConfig"}
    for name, mel, rows in (("as-run", target, 8), ("narrow", {**target, "n_mels": 64}, 4)):
        run = fake_vqvae_run(tmp_path / name, tmp_path / "sounds", mel=mel)
        assert compose_cfg(["model=prior", f"model.vqvae={run}"]).model.net.rows == rows, name
    run = fake_vqvae_run(tmp_path / "fine", tmp_path / "sounds", mel=target, bands_per_row=8)
    assert compose_cfg(["model=prior", f"model.vqvae={run}"]).model.net.rows == 16


def test_the_dead_code_threshold_counts_the_cells_of_the_grid_as_built(compose_cfg, tmp_path: Path):
    # Half the bands per cell doubles the cells per batch, and so each code's expected use.
    overrides = ["model=vqvae", "data=small", f"data.path={tmp_path}"]
    coarse = compose_cfg(overrides).model.net.quantizer.threshold_ema_dead_code
    fine = compose_cfg(
        [*overrides, "model.net.encoder.bands_per_row=8"]
    ).model.net.quantizer.threshold_ema_dead_code
    assert fine == pytest.approx(2 * coarse) and coarse > 0


@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("data", ["small", "medium", "large"])
def test_model_and_data_options_instantiate(compose_cfg, tmp_path: Path, model: str, data: str):
    folder = make_sound_folder(tmp_path / "s", 2)
    overrides = [f"model={model}", f"data={data}", f"data.path={folder}"]
    if model == "prior":
        overrides.append(f"model.vqvae={fake_vqvae_run(tmp_path / 'vq', folder)}")
    cfg = compose_cfg(overrides)
    module = hydra.utils.instantiate(cfg.model)
    assert module is not None
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.batch_size == cfg.data.batch_size


@pytest.mark.parametrize("prior_net", options("model/prior_net"))
@pytest.mark.parametrize("data", ["small", "medium", "large"])
def test_every_prior_net_option_builds_at_every_tier(compose_cfg, tmp_path: Path, prior_net: str, data: str):
    from distill.nn.cell_prior import CellPrior
    from distill.nn.prior import CodePrior

    run = fake_vqvae_run(tmp_path / "vq", tmp_path / "sounds")
    cfg = compose_cfg(["model=prior", f"model.vqvae={run}", f"data={data}", f"model/prior_net={prior_net}"])
    module = hydra.utils.instantiate(cfg.model)
    assert type(module.net) is {"cell": CellPrior, "flat": CodePrior}[prior_net]
    tier = cfg.data.tier
    # The same temporal size either way; each architecture brings its own regularisation.
    assert (cfg.model.net.hidden, cfg.model.net.layers) == (tier.prior_hidden, tier.prior_layers)
    assert module.net.context_columns == 22
    assert cfg.model.net.dropout == {"flat": 0.1, "cell": 0.2}[prior_net]
    # Either prior's input noise is sized to the training audio when training starts; until then
    # it holds the rule's most.
    assert module.input_noise_rule == InputNoiseByAudio(
        most=0.3, full_up_to_seconds=40, none_from_seconds=120
    )
    assert module.input_noise == 0.3
    if prior_net == "cell":
        assert (cfg.model.net.depth_hidden, cfg.model.net.depth_layers) == (
            tier.prior_depth_hidden,
            tier.prior_depth_layers,
        )


def test_one_input_noise_pins_it_in_place_of_the_rule(compose_cfg, tmp_path: Path):
    run = fake_vqvae_run(tmp_path / "vq", tmp_path / "sounds")
    cfg = compose_cfg(["model=prior", f"model.vqvae={run}", "data=small", "model.input_noise=0.1"])
    module = hydra.utils.instantiate(cfg.model)
    assert (module.input_noise, module.input_noise_rule) == (0.1, None)


@pytest.mark.parametrize("generator", options("model/generator"))
@pytest.mark.parametrize("discriminator", options("model/discriminator"))
def test_every_vocoder_generator_and_discriminator_option_builds(compose_cfg, generator, discriminator):
    from distill.nn.discriminators import DiscriminatorSet
    from distill.nn.mel_generator import MelGenerator

    cfg = compose_cfg(
        [
            "model=vocoder",
            f"model/generator={generator}",
            f"model/discriminator={discriminator}",
            "data.path=/x",
        ]
    )
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module.generator, MelGenerator)
    assert module.generator.kind == generator
    assert isinstance(module.discriminator, DiscriminatorSet)
    members = {"full": ["mpd", "msd"], "light": ["mpd", "msd"], "mrd": ["mpd", "mrd"]}[discriminator]
    assert list(module.discriminator.members) == members
    # Each generator brings its own learning rate (model/generator/<kind>.yaml).
    assert (
        cfg.model.generator_optimizer.lr == load_option("model/generator", generator).generator_optimizer.lr
    )


def test_each_generator_option_is_named_as_its_kind():
    """What lets lists, help texts and reports read the kinds from the tree (distill.vocoders.kinds)."""
    from distill.nn.mel_generator import MelGenerator
    from distill.vocoders.bigvgan import BigVGANVocoder
    from distill.vocoders.kinds import generator_classes, vocoder_names

    classes = generator_classes()
    assert set(classes) == set(options("model/generator")) and "vocos" in classes
    for option, generator in classes.items():
        assert issubclass(generator, MelGenerator) and generator.kind == option, option
    # The names read from the classes' source (no torch import) are what the classes say.
    imported = [*classes.values(), BigVGANVocoder]
    assert vocoder_names() == {vocoder.kind: vocoder.display_name for vocoder in imported}


SETUP_KEYS = {
    "task_name",
    "next_step",
    "data",
    "callbacks",
    "package_components",
    "vocoder_run",
    "quality",
    "cpu_bf16",
}


def test_each_model_kind_has_one_setup_file():
    assert options("model_setup") == options("model")
    for kind in options("model"):
        setup = load_option("model_setup", kind)
        assert set(setup) <= SETUP_KEYS and setup.task_name == kind, kind


@pytest.mark.parametrize("kind", options("model"))
@pytest.mark.parametrize("extra", [[], ["callbacks=none", "data=large"]])
def test_a_model_kind_setup_lands_on_the_composed_config_and_nothing_else(compose_cfg, kind, extra):
    """Composing with the kind's setup equals composing without it and merging the one file on top,
    so the file says everything the kind brings (its runs' folder name included)."""
    with_setup = compose_cfg([f"model={kind}", *extra])
    without = OmegaConf.to_container(compose_cfg([f"model={kind}", "~model_setup", *extra]))
    assert without["task_name"] == "train" and "package_components" not in without
    merged = OmegaConf.merge(OmegaConf.create(without), load_option("model_setup", kind))
    assert OmegaConf.to_container(merged) == OmegaConf.to_container(with_setup)
    assert with_setup.task_name == kind


@pytest.mark.parametrize("codebook", ["k64", "k128", "k256", "tier"])
def test_codebook_group_overrides_the_tier(compose_cfg, codebook: str):
    cfg = compose_cfg(["data=medium", f"codebook={codebook}", "data.path=/x"])
    expected = 128 if codebook == "tier" else int(codebook[1:])
    assert cfg.model.net.quantizer.codebook_size == expected
    assert cfg.model.net.quantizer.decay == 0.9


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_options_compose(compose_cfg, trainer: str):
    cfg = compose_cfg([f"trainer={trainer}", "data.path=/x"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if trainer == "cpu":
        built = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert built.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_options_instantiate_offline(compose_cfg, logger: str, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_cfg([f"logger={logger}", "data.path=/x"])
    built = instantiate_loggers(cfg.logger)
    assert len(built) == (2 if logger == "many" else 1)
    if logger != "csv":
        assert cfg.logger.wandb.offline is True


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_callback_options_instantiate(compose_cfg, callbacks: str):
    cfg = compose_cfg([f"callbacks={callbacks}", "data.path=/x"])
    built = instantiate_callbacks(cfg.callbacks)
    # model=vqvae adds its own callbacks to every callbacks option
    assert {type(c).__name__ for c in built} >= {"CodebookHealthMonitor", "ReconstructionPreview"}
    vocoder_cfg = compose_cfg([f"callbacks={callbacks}", "model=vocoder", "data.path=/x"])
    assert "VocoderPreview" in {type(c).__name__ for c in instantiate_callbacks(vocoder_cfg.callbacks)}
    prior_cfg = compose_cfg([f"callbacks={callbacks}", "model=prior", "data.path=/x"])
    assert "MemorizationCheck" in {type(c).__name__ for c in instantiate_callbacks(prior_cfg.callbacks)}


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_options_compose(compose_cfg, debug: str):
    cfg = compose_cfg([f"debug={debug}", "data.path=/x"])
    assert cfg.trainer.max_epochs == 1


def test_auto_tier_stays_unresolved_until_the_run_starts(compose_cfg):
    cfg = compose_cfg(["data=auto", "data.path=/x"])
    assert cfg.data.tier.name == "auto"
    assert OmegaConf.is_missing(cfg.data.tier, "codebook_size") or "codebook_size" not in cfg.data.tier


def test_slurm_launcher_composes(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "data.path=/x"],
            return_hydra_config=True,
        )
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.partition == "gpu" and cfg.hydra.launcher.timeout_min == 240


def test_cpu_precision_follows_cpu_bf16_and_what_the_cpu_has(monkeypatch: pytest.MonkeyPatch):
    import torch

    from distill.config import resolvers
    from distill.errors import UserError

    assert resolvers.cpu_precision(True) == "bf16-mixed" and resolvers.cpu_precision(False) == "32-true"
    for capabilities, native in (
        ({"amx_bf16": True}, True),
        ({"avx512_bf16": True}, True),
        ({"avx2": True}, False),
    ):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda found=capabilities: found)
        assert resolvers.native_bf16() is native
        assert resolvers.cpu_precision("auto") == ("bf16-mixed" if native else "32-true")
    with pytest.raises(UserError, match="cpu_bf16 must be auto, true or false, got 'yes'"):
        resolvers.cpu_precision("yes")


@pytest.mark.parametrize("native", [True, False])
def test_each_model_trains_in_its_measured_precision(compose_cfg, tmp_path: Path, monkeypatch, native: bool):
    from distill.config import resolvers

    monkeypatch.setattr(resolvers, "native_bf16", lambda: native)
    mixed = "bf16-mixed" if native else "32-true"
    run = fake_vqvae_run(tmp_path / "vq", tmp_path / "sounds")
    folder = [f"data.path={tmp_path}", "data=small"]
    expected = {
        ("model=vqvae",): mixed,
        ("model=vocoder",): "32-true",
        ("model=prior", f"model.vqvae={run}"): mixed,
        ("model=prior", f"model.vqvae={run}", "model/prior_net=cell"): mixed,
        ("model=prior", f"model.vqvae={run}", "model/prior_net=cell", "cpu_bf16=false"): "32-true",
        ("model=vqvae", "cpu_bf16=false"): "32-true",
        ("model=vocoder", "cpu_bf16=true"): "bf16-mixed",
        ("model=vqvae", "trainer=gpu"): "16-mixed",
        ("model=vqvae", "trainer=ddp"): "32-true",
    }
    for overrides, precision in expected.items():
        assert compose_cfg([*overrides, *folder]).trainer.precision == precision, overrides


def test_the_spectral_refiner_is_off_by_default_and_one_override_builds_it(compose_cfg):
    plain = compose_cfg(["model=vqvae"])
    assert plain.model.net.decoder.refiner_channels == 0
    assert hydra.utils.instantiate(plain.model.net.decoder).refiner is None
    refined = compose_cfg(["model=vqvae", "model.net.decoder.refiner_channels=32"])
    decoder = hydra.utils.instantiate(refined.model.net.decoder)
    assert decoder.refiner is not None and decoder.refiner[0].out_channels == 32


def test_the_pitch_head_is_on_by_default_and_overrides_turn_it_off(compose_cfg):
    default = compose_cfg(["model=vqvae"]).model
    encoder, decoder = (hydra.utils.instantiate(default.net[part]) for part in ("encoder", "decoder"))
    assert encoder.has_pitch and decoder.has_pitch and default.pitch_weight > 0
    assert decoder.pitch_f0_max == decoder.pitch.f0_max == 1200.0
    wide = compose_cfg(["model=vqvae", "model.net.decoder.pitch_f0_max=4400"]).model
    assert hydra.utils.instantiate(wide.net.decoder).pitch.f0_max == 4400.0  # the top of a piano
    off = compose_cfg(
        ["model=vqvae", "model.net.encoder.pitch_input=false", "model.net.decoder.pitch_head_channels=0"]
    ).model
    encoder, decoder = (hydra.utils.instantiate(off.net[part]) for part in ("encoder", "decoder"))
    assert not encoder.has_pitch and not decoder.has_pitch


def test_the_default_rvqvae_draws_more_texture_where_the_sound_has_no_pitch(compose_cfg):
    """Pitched frames draw texture, unpitched ones texture_unpitched (model/vqvae.yaml), which needs
    the pitch head that tells them apart."""
    net = compose_cfg(["model=vqvae"]).model.net
    decoder = hydra.utils.instantiate(net.decoder)
    assert decoder.has_texture and decoder.has_pitch
    assert 0 < net.texture < net.texture_unpitched


def test_the_default_rvqvae_renders_the_likelier_pitch_and_old_configs_the_expectation(compose_cfg):
    """Codes are rendered with the pitch head at 0.5 (model/vqvae.yaml); a config without the key
    (model files from before it) builds at 1, the expectation it was trained with."""
    cfg = compose_cfg(["model=vqvae", "data=small", "data.path=/unused"])
    OmegaConf.resolve(cfg)
    net = OmegaConf.to_container(cfg.model.net)
    assert hydra.utils.instantiate(net).pitch_temperature == 0.5
    del net["pitch_temperature"]
    assert hydra.utils.instantiate(net).pitch_temperature == 1.0
