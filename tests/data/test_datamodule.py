from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from conftest import CONFIG_DIR, make_sound_folder, write_tone
from omegaconf import OmegaConf

from distill.audio.mel import MelConfig, log_mel, silence_frame
from distill.data.datamodule import SoundFolderDataModule, split_files
from distill.data.dataset import ClipBatch
from distill.data.scan import scan_folder
from distill.data.store import DecodingStore


def make_datamodule(
    root: Path, cache: Path | None, *, augment: bool = False, **overrides
) -> SoundFolderDataModule:
    options = dict(
        path=str(root),
        cache_dir=str(cache) if cache else None,
        tier={"name": "small"},
        mel=MelConfig(),
        crop_frames=32,
        val_crop_frames=32,
        crops_per_file=3,
        batch_size=4,
        val_batch_size=4,
        val_fraction=0.2,
        split_seed=0,
        augment=hydra.utils.instantiate(OmegaConf.load(CONFIG_DIR / "data" / "_base_.yaml").augment)
        if augment
        else None,
        num_workers=0,
        pin_memory=False,
        persistent_workers=False,
    )
    options.update(overrides)
    return SoundFolderDataModule(**options)


def test_split_is_file_level_deterministic_and_keeps_a_validation_file(tmp_path: Path):
    root = make_sound_folder(tmp_path / "s", 10)
    files = scan_folder(root, store=DecodingStore(mel_config=MelConfig())).usable
    train, val = split_files(files, root=root, val_fraction=0.2, seed=0)
    assert len(val) == 2 and len(train) == 8
    assert not {p.path for p in train} & {p.path for p in val}
    again = split_files(list(reversed(files)), root=root, val_fraction=0.2, seed=0)
    assert [p.path for p in again[1]] == [p.path for p in val]
    other_seed = split_files(files, root=root, val_fraction=0.2, seed=1)[1]
    assert [p.path for p in other_seed] != [p.path for p in val]
    for count in (2, 3):
        train, val = split_files(files[:count], root=root, val_fraction=0.01, seed=0)
        assert len(val) == 1 and len(train) == count - 1
    assert split_files(files[:1], root=root, val_fraction=0.5, seed=0)[1] == []


def test_batches_are_aligned_and_short_clips_padded_with_silence_not_dropped(tmp_path: Path):
    root = tmp_path / "s"
    write_tone(root / "long.wav", seconds=2.0)
    write_tone(root / "short.wav", seconds=0.1)  # 9 frames, crop is 32
    write_tone(root / "mid.wav", seconds=1.0)
    datamodule = make_datamodule(root, tmp_path / "cache")
    datamodule.setup("fit")
    datamodule.train_files = datamodule.report.usable  # all three, whatever the split picked
    names = [p.path.name for p in datamodule.train_files]
    assert names == ["long.wav", "mid.wav", "short.wav"]
    batch = next(iter(datamodule.train_dataloader()))
    assert isinstance(batch, ClipBatch)
    assert batch.mel.shape == (4, 128, 32) and batch.audio.shape == (4, 1, 32 * 512)
    # The mel of every crop is the mel of its audio (cached slices, no augmentation here).
    for clip_mel, clip_audio, mask in zip(batch.mel, batch.audio, batch.frame_mask, strict=True):
        inner = slice(2, int(mask.sum()) - 2)  # away from the crop edges' reflect padding
        assert torch.allclose(log_mel(clip_audio[0])[:, inner], clip_mel[:, inner], atol=1e-3)
    short_index = names.index("short.wav")
    short = datamodule.train_dataloader().dataset[short_index]
    assert short.frame_mask.sum() == 9 and not short.frame_mask[9:].any()
    assert torch.allclose(short.mel[:, 9:], silence_frame()[:, None].expand(-1, 23))
    assert short.audio[0, 9 * 512 :].abs().sum() == 0


def test_validation_tiles_cover_every_frame_of_every_validation_file(tmp_path: Path):
    root = make_sound_folder(tmp_path / "s", 8, seconds=1.3)
    datamodule = make_datamodule(root, tmp_path / "cache", val_fraction=0.25)
    datamodule.setup("fit")
    frames = 0
    for batch in datamodule.val_dataloader():
        frames += int(batch.frame_mask.sum())
    assert frames == sum(p.n_frames for p in datamodule.val_files)


def test_augmented_training_crops_are_seedable(tmp_path: Path):
    root = make_sound_folder(tmp_path / "s", 4, seconds=1.5)
    datamodule = make_datamodule(root, tmp_path / "cache", augment=True)
    datamodule.setup("fit")
    torch.manual_seed(7)
    first = next(iter(datamodule.train_dataloader()))
    torch.manual_seed(7)
    second = next(iter(datamodule.train_dataloader()))
    assert torch.equal(first.mel, second.mel) and torch.equal(first.audio, second.audio)
    assert torch.isfinite(first.mel).all()


def test_mixing_adds_another_files_crop_to_the_training_crop(tmp_path: Path):
    from distill.data.dataset import RandomCropDataset

    root = tmp_path / "s"
    write_tone(root / "low.wav", seconds=1.0, freq=110.0, decay=0.0)
    write_tone(root / "high.wav", seconds=1.0, freq=3000.0, decay=0.0)
    datamodule = make_datamodule(root, tmp_path / "cache")
    datamodule.setup("fit")
    files = datamodule.train_files + datamodule.val_files  # both, whichever the split holds out
    base = OmegaConf.load(CONFIG_DIR / "data" / "_base_.yaml").augment
    plain = dict(max_gain_db=0, max_shift_ms=0, polarity_prob=0, eq_prob=0)
    mixing = hydra.utils.instantiate(base, **plain, mix_prob=1.0, mix_gain_db=[0.0, 0.0])(sample_rate=44100)
    dataset = RandomCropDataset(
        store=datamodule.store,
        files=files,
        crop_frames=32,
        crops_per_file=1,
        mel_config=MelConfig(),
        augment=mixing,
    )
    low = [i for i, p in enumerate(files) if p.path.name == "low.wav"][0]
    clip = dataset[low]
    spectrum = torch.fft.rfft(clip.audio[0]).abs()
    hz = torch.fft.rfftfreq(clip.audio.shape[-1], 1 / 44100)
    # Both tones are in the crop of the low file: its own, and the other file's mixed in.
    assert spectrum[(hz - 110).abs().argmin()] > 0.1 * spectrum.max()
    assert spectrum[(hz - 3000).abs().argmin()] > 0.1 * spectrum.max()
    torch.testing.assert_close(clip.mel, log_mel(clip.audio[0]))  # the mel is the mixture's


class TinyConvModel(L.LightningModule):
    """Stands in for a real model: proves the DataModule feeds Lightning end to end."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Conv1d(128, 128, 3, padding=1)
        self.seen_files: set[int] = set()

    def training_step(self, batch: ClipBatch, batch_idx: int):
        self.seen_files.update(batch.file_index.tolist())
        loss = torch.nn.functional.l1_loss(self.net(batch.mel), batch.mel)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: ClipBatch, batch_idx: int):
        self.log("val/loss", torch.nn.functional.l1_loss(self.net(batch.mel), batch.mel))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def test_datamodule_drives_a_lightning_fit(tmp_path: Path):
    root = make_sound_folder(tmp_path / "s", 6)
    datamodule = make_datamodule(root, tmp_path / "cache", augment=True)
    model = TinyConvModel()
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, datamodule=datamodule)
    # 6 files -> 5 train x 3 crops = 15 crops = 4 batches of <= 4 per epoch.
    assert len(datamodule.train_files) == 5
    assert trainer.global_step == 2 * 4
    assert "val/loss" in trainer.callback_metrics
    assert model.seen_files == set(range(len(datamodule.train_files)))


@pytest.mark.parametrize("cache", [True, False])
def test_summary_reports_files_duration_and_hashes(tmp_path: Path, cache: bool):
    root = make_sound_folder(tmp_path / "s", 5)
    datamodule = make_datamodule(root, tmp_path / "cache" if cache else None)
    datamodule.setup("fit")
    summary = datamodule.summary()
    assert summary["file_count"] == 5 and len(summary["content_hashes"]) == 5
    assert len(summary["train_files"]) + len(summary["val_files"]) == 5
    assert summary["total_duration_s"] > 3.0
