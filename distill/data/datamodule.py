"""LightningDataModule over a folder of recordings: scan, file-level split, cached crops."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from distill.audio.augment import WaveAugment
from distill.audio.mel import MelConfig
from distill.data.dataset import RandomCropDataset, TiledDataset, collate_clips
from distill.data.scan import ScanReport, scan_folder
from distill.data.store import DecodingStore, FileStore, MelCache, PreparedFile

log = logging.getLogger(__name__)


def split_files(files: list[PreparedFile], *, root: Path, val_fraction: float, seed: int):
    """File-level train/val split, deterministic by seed and stable when files are added.

    Each file's rank is a hash of (seed, relative path), so adding one recording moves at most
    one file across the split instead of reshuffling everything. At least one validation file
    whenever there are two or more files, and always at least one training file.
    """

    def rank(prepared: PreparedFile) -> str:
        key = f"{seed}:{prepared.path.relative_to(root).as_posix()}".encode()
        return hashlib.sha256(key).hexdigest()

    ordered = sorted(files, key=rank)
    n_val = 0 if len(files) < 2 else min(len(files) - 1, max(1, round(val_fraction * len(files))))
    val = sorted(ordered[:n_val], key=lambda p: p.path)
    train = sorted(ordered[n_val:], key=lambda p: p.path)
    return train, val


def _worker_init(_: int) -> None:
    # Each loader worker is a process of its own: one torch thread each, or 2 cores get oversubscribed.
    torch.set_num_threads(1)


class SoundFolderDataModule(L.LightningDataModule):
    """Crops of every usable recording under ``path``; see the config tree's data/_base_.yaml for each knob."""

    def __init__(
        self,
        *,
        path: str,
        cache_dir: str | None,
        tier: Mapping,
        mel: MelConfig,
        crop_frames: int,
        val_crop_frames: int,
        crops_per_file: int,
        batch_size: int,
        val_batch_size: int,
        val_fraction: float,
        split_seed: int,
        augment: Callable[..., WaveAugment] | None,
        num_workers: int,
        pin_memory: bool,
        persistent_workers: bool,
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.tier_name = str(tier["name"])
        self.mel_config = mel
        self.store: FileStore = (
            MelCache(root=cache_dir, mel_config=mel) if cache_dir else DecodingStore(mel_config=mel)
        )
        self.crop_frames = crop_frames
        self.val_crop_frames = val_crop_frames
        self.crops_per_file = crops_per_file
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.augment = augment(sample_rate=mel.sample_rate) if augment is not None else None
        self.loader_options = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": persistent_workers and num_workers > 0,
            "worker_init_fn": _worker_init if num_workers > 0 else None,
            "collate_fn": collate_clips,
        }
        self.report: ScanReport | None = None
        self.train_files: list[PreparedFile] = []
        self.val_files: list[PreparedFile] = []

    def scan(self) -> ScanReport:
        """Scan (and with a cache, prepare) the folder once; later calls reuse the report."""
        if self.report is None:
            self.report = scan_folder(self.path, store=self.store)
            self.report.require_usable()
            log.info(
                "Data %s: %d usable file(s), %d skipped, %d other file(s) ignored, %.1f s of audio",
                self.path,
                len(self.report.usable),
                len(self.report.skipped),
                self.report.ignored,
                self.report.total_duration_s,
            )
        return self.report

    def prepare_data(self) -> None:
        # Rank 0 fills the cache; other ranks then find every entry in setup().
        self.scan()

    def setup(self, stage: str | None = None) -> None:
        report = self.scan()
        self.train_files, self.val_files = split_files(
            report.usable, root=report.root, val_fraction=self.val_fraction, seed=self.split_seed
        )
        if not self.val_files:
            log.warning("Only one usable file: no validation split, validation metrics will be missing.")

    @property
    def train_seconds(self) -> float:
        """Seconds of audio in the training split (after ``setup``)."""
        return sum(prepared.duration_s(self.mel_config.sample_rate) for prepared in self.train_files)

    def train_dataloader(self) -> DataLoader:
        dataset = RandomCropDataset(
            store=self.store,
            files=self.train_files,
            crop_frames=self.crop_frames,
            crops_per_file=self.crops_per_file,
            mel_config=self.mel_config,
            augment=self.augment,
        )
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, **self.loader_options)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_files:
            return []
        dataset = TiledDataset(
            store=self.store,
            files=self.val_files,
            crop_frames=self.val_crop_frames,
            mel_config=self.mel_config,
        )
        return DataLoader(dataset, batch_size=self.val_batch_size, shuffle=False, **self.loader_options)

    def summary(self) -> dict:
        """Dataset facts for run summaries and model files (JSON-serialisable)."""
        report = self.scan()
        return {
            "root": str(report.root),
            "tier": self.tier_name,
            "file_count": len(report.usable),
            "skipped_count": len(report.skipped),
            "total_duration_s": round(report.total_duration_s, 3),
            "train_files": [str(p.path.relative_to(report.root)) for p in self.train_files],
            "val_files": [str(p.path.relative_to(report.root)) for p in self.val_files],
            "content_hashes": sorted(p.content_hash for p in report.usable),
        }
