"""Smoke run of the prior: tiny VQ-VAE -> codes -> prior -> 3 s of sampled codes -> mel; resume."""

import math
from pathlib import Path

import pytest
import torch
from conftest import SHORT_RUN, TINY_PRIOR
from test_train import read_metrics

from distill.audio.control_space import DESCRIPTORS, ControlSpace
from distill.codes.sampling import sample
from distill.data.code_windows import CodeWindows
from distill.data.codes import CodeGridDataModule
from distill.errors import UserError
from distill.models.loading import load_trained_module
from distill.runs import RunSummary
from distill.train import train
from distill.weights import state_dict_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vqvae_run(trained_runs) -> Path:
    return trained_runs["vqvae"]


def test_prior_trains_on_frozen_vqvae_codes_samples_and_resumes(
    vqvae_run, compose_cfg, tmp_path, monkeypatch
):
    # The input noise's rule, widened so that the tiny collection's few seconds fall inside it.
    sized = ["model.input_noise.full_up_to_seconds=0.01", "model.input_noise.none_from_seconds=1000"]
    overrides = [*TINY_PRIOR, *SHORT_RUN, *sized, f"model.vqvae={vqvae_run}"]
    metrics, objects = train(compose_cfg(overrides))
    run_dir = tmp_path / "run"

    # The input noise is sized to the training split's seconds of audio when training starts.
    module, rule, seconds = (
        objects["model"],
        objects["model"].input_noise_rule,
        objects["datamodule"].train_seconds,
    )
    assert 0.01 < seconds < 1000
    assert module.input_noise == pytest.approx(rule.amount(seconds)) and 0.0 < module.input_noise < rule.most
    assert metrics["train/input_noise"] == pytest.approx(module.input_noise)

    # Codes come from the frozen VQ-VAE over the same folder and file split. The data module encodes
    # the file padded with silence to whole columns: another input length may round differently, and
    # a near-tie between two codes of a barely trained codebook then flips, so most cells must agree.
    datamodule = objects["datamodule"]
    vq_module, vq_cfg = load_trained_module(vqvae_run)
    assert Path(objects["cfg"].data.path) == Path(vq_cfg.data.path)
    assert objects["cfg"].model.net.levels == 2 and objects["cfg"].model.net.codebook_size == 64
    digest = state_dict_digest(vq_module.net.state_dict())
    assert datamodule.vqvae_digest == digest
    file_index = 0
    prepared = datamodule.train_files[file_index]
    _, mel = datamodule.store.arrays(prepared)
    expected = vq_module.net.encode(torch.from_numpy(mel.copy())[None])[0]
    own = datamodule.train_codes[file_index].own
    assert own.shape == expected.shape and (own == expected).float().mean() >= 0.9
    # Augmented takes of every training file, shaped like its grid; held-out files as recorded.
    codes = datamodule.train_codes[file_index]
    assert len(codes.takes) == datamodule.takes_per_file - 1 > 0
    assert all(take.shape == codes.grid.shape for take in codes.takes)
    assert_takes_encode_augmented_audio(objects["cfg"].data, datamodule)
    # Held-out files are validated in several takes too: more windows for the loss early stopping reads.
    assert all(len(val.takes) == datamodule.val_takes_per_file - 1 > 0 for val in datamodule.val_codes)
    val_windows = len(datamodule.val_dataloader().dataset)
    assert val_windows == datamodule.val_takes_per_file * len(
        CodeWindows.tiles(datamodule.val_codes, datamodule.context_columns)
    )

    # Per-level validation NLL and perplexity are logged; untrained ~ log(64) = 4.16 nats.
    rows = read_metrics(run_dir)
    assert any(row.get("val/nll_level1") for row in rows)
    assert metrics["val/perplexity"] == pytest.approx(math.exp(metrics["val/loss"]), rel=1e-4)
    assert 2.0 < metrics["val/nll_level0"] < 6.0

    summary = RunSummary.read(run_dir).to_dict()
    assert summary["vqvae"]["digest"] == digest
    assert summary["memorization_last"]["n_generated"] == 3  # final weights; "memorization" is the best's
    report = summary["memorization"]
    assert report["n_generated"] == 3 and report["n_heldout"] == len(datamodule.val_files)
    assert 0.0 <= report["generated_share_mean"] <= 1.0 and isinstance(report["flagged"], bool)
    # The collection's shape, measured on the training files (8 tones of 1.0-1.2 s): one-shots.
    sounds = summary["sounds"]
    durations = [prepared.n_frames * 512 / 44100 for prepared in datamodule.train_files]
    assert sounds["files"] == len(durations) and sounds["max_s"] == pytest.approx(max(durations), abs=1e-3)
    assert sounds["default_mode"] == "one-shot" and sounds["tail_drop"] > 0
    assert_windows_carry_their_takes_controls(datamodule, summary["controls"])

    # 3 s of codes (more than the 4-column window, so the window slides) decode to a mel.
    prior = objects["model"].net.eval()
    n_columns = math.ceil(3.0 * 44100 / 512 / 16)
    codes = sample(prior, n_columns=n_columns, temperature=1.0, top_k=0, top_p=0.95, seed=0)
    assert codes.shape == (2, 8, n_columns) and int(codes.max()) < 64
    mel = vq_module.net.decode(codes[None])
    assert mel.shape == (1, 128, 16 * n_columns) and torch.isfinite(mel).all()

    # A second run reads the codes from the cache instead of running the encoder again, and resumes.
    def no_encoding(*args, **kwargs):
        raise AssertionError("codes should come from the cache")

    monkeypatch.setattr(CodeGridDataModule, "_encode", no_encoding)
    monkeypatch.setattr("distill.data.codes.describe", no_encoding)
    _, resumed = train(compose_cfg([*overrides, "trainer.max_epochs=3", f"resume={run_dir}"]))
    assert resumed["trainer"].global_step == objects["trainer"].global_step + 3


def assert_windows_carry_their_takes_controls(datamodule: CodeGridDataModule, recorded: dict) -> None:
    """Every take is described on its own audio, relative to the training recordings' range, and
    each window carries its take's values; the range is what the run records for generation."""
    space = datamodule.control_space
    assert ControlSpace.from_dict(recorded) == space
    assert {"loudness", "brightness", "length", "noisiness"} <= set(space.ranges)
    recordings = torch.stack([codes.controls[0] for codes in datamodule.train_codes])
    assert recordings.shape == (len(datamodule.train_files), len(DESCRIPTORS))
    loudness = recordings[:, 0]  # the range may be widened to its minimum span around the tones
    assert loudness.min() >= -1e-5 and loudness.max() <= 1.0 + 1e-5
    takes = datamodule.train_codes[0].controls
    assert takes.shape == (datamodule.takes_per_file, len(DESCRIPTORS))
    assert takes[:, 0].unique().numel() > 1  # the takes' gains are heard in their loudness
    batch = next(iter(datamodule.train_dataloader()))
    assert batch.controls.shape == (batch.tokens.shape[0], len(DESCRIPTORS))
    rows = {tuple(row.tolist()) for codes in datamodule.train_codes for row in codes.controls.nan_to_num(-9)}
    assert all(tuple(row.tolist()) in rows for row in batch.controls.nan_to_num(-9))
    val = next(iter(datamodule.val_dataloader()))
    assert val.controls.shape == (val.tokens.shape[0], len(DESCRIPTORS))


def assert_takes_encode_augmented_audio(data_cfg, trained: CodeGridDataModule) -> None:
    """Each take > 0 is the encoding of an augmented copy of the recording, not of the recording.

    Whether a barely trained tiny encoder maps an augmented copy to other codes depends on float
    rounding (it differs between CPUs), so the mechanism is checked: what goes into the encoder.
    """
    import hydra

    fresh = hydra.utils.instantiate(data_cfg)
    fresh._cache_path = lambda *args: None  # encode again instead of reading the run's cached grids
    encoded: list[tuple[torch.Tensor, torch.Tensor]] = []
    encode = fresh._encode

    def recording_encode(net, mel, padded_columns):
        grid = encode(net, mel, padded_columns)
        encoded.append((mel.clone(), grid))
        return grid

    fresh._encode = recording_encode
    fresh.setup("fit")
    takes = fresh.takes_per_file
    assert len(fresh.train_files) == len(trained.train_files) and takes > 1
    for index, file_codes in enumerate(fresh.train_codes):
        calls = encoded[index * takes : (index + 1) * takes]
        recording = calls[0][0]
        for take, (mel, grid) in enumerate(calls[1:]):
            assert mel.shape == recording.shape
            assert (mel - recording).abs().mean() > 1e-3  # gain, shift and tilt change the mel
            assert torch.equal(file_codes.takes[take].long(), grid)
        assert torch.equal(file_codes.grid, calls[0][1])


def test_prior_needs_a_vqvae_run(compose_cfg, tmp_path):
    with pytest.raises(UserError, match=r"model.vqvae is not set"):
        train(compose_cfg(["model=prior"]))
    with pytest.raises(UserError, match=r"is not a distill run folder"):
        train(compose_cfg(["model=prior", f"model.vqvae={tmp_path}"]))


def test_package_true_bundles_the_prior_with_its_vqvae(vqvae_run, compose_cfg, tmp_path, monkeypatch):
    from distill.bundle.catalog import ModelLibrary

    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "library"))
    overrides = [
        *TINY_PRIOR,
        *SHORT_RUN,
        f"model.vqvae={vqvae_run}",
        "package=true",
        "package_name=tiny-prior",
    ]
    _, objects = train(compose_cfg(overrides))
    entry = ModelLibrary(root=tmp_path / "library").get("tiny-prior")
    assert entry.components == ("vqvae", "prior")
    summary = RunSummary.read(tmp_path / "run").to_dict()
    assert summary["packaged"] == str(entry.path)


def test_prior_samples_are_previewed_as_grids_and_audio(trained_runs, compose_cfg, tmp_path):
    import soundfile as sf

    overrides = [
        *TINY_PRIOR,
        *SHORT_RUN,
        f"model.vqvae={trained_runs['vqvae']}",
        "callbacks.prior_samples.every_n_epochs=1",
        "callbacks.prior_samples.num_samples=2",
        "callbacks.prior_samples.columns=3",
        f"callbacks.prior_samples.vocoder.run={trained_runs['vocoder']}",
    ]
    train(compose_cfg(overrides))
    folders = sorted((tmp_path / "run" / "previews").glob("prior_epoch_*"))
    assert [folder.name for folder in folders] == ["prior_epoch_000", "prior_epoch_001"]
    names = sorted(path.name for path in folders[-1].iterdir())
    assert names == ["sample_0.png", "sample_0.wav", "sample_1.png", "sample_1.wav"]
    audio, rate = sf.read(folders[-1] / "sample_0.wav")
    assert rate == 44100 and len(audio) == 3 * 16 * 512  # 3 columns of 16 mel frames
    assert 0 < abs(audio).max() <= 1.0


def test_the_cell_prior_option_trains_resumes_packages_and_generates(
    vqvae_run, compose_cfg, tmp_path, monkeypatch
):
    from distill import DistillModel
    from distill.bundle.catalog import ModelLibrary
    from distill.nn.cell_prior import CellPrior

    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "library"))
    cell = [
        "model/prior_net=cell",
        "model.net.depth_hidden=16",
        "model.net.depth_heads=2",
    ]
    overrides = [*TINY_PRIOR, *cell, *SHORT_RUN, f"model.vqvae={vqvae_run}"]
    metrics, objects = train(compose_cfg(overrides))
    assert isinstance(objects["model"].net, CellPrior) and objects["model"].input_noise == 0.3
    assert math.isfinite(metrics["val/loss"])
    run_dir = tmp_path / "run"
    stop = next(c for c in objects["trainer"].callbacks if type(c).__name__ == "PlateauStop")
    assert len(stop.history) == 2  # one validation per epoch
    # Resumes with its early-stopping history, then packages with its VQ-VAE and generates.
    more = [
        *overrides,
        "trainer.max_epochs=3",
        f"resume={run_dir}",
        "package=true",
        "package_name=tiny-cell",
    ]
    _, resumed = train(compose_cfg(more))
    assert resumed["trainer"].global_step == objects["trainer"].global_step + 3
    stop = next(c for c in resumed["trainer"].callbacks if type(c).__name__ == "PlateauStop")
    assert len(stop.history) == 3
    model = DistillModel.load(ModelLibrary(root=tmp_path / "library").get("tiny-cell").path)
    assert isinstance(model.prior, CellPrior) and model.components == ("vqvae", "prior")
    # 6 columns through its 4-column window (a slide), decoded by the RVQ-VAE it was packaged with.
    codes = sample(model.prior, n_columns=6, temperature=1.0, top_k=0, top_p=0.95, seed=0, file_start=True)
    assert codes.shape == (2, 8, 6)
    assert torch.isfinite(model.vqvae.decode(codes[None])).all()
