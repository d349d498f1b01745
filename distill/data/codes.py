"""Code grids of a folder, made by a frozen RVQ-VAE: what the prior trains on.

Every usable file is encoded once, whole, in eval mode, and the grid is cached on disk under the
VQ-VAE's weight digest, so retraining the prior (or a sweep over its settings) never runs the
encoder again, while a retrained VQ-VAE can never be served stale codes.

Training items are windows of ``context_columns`` consecutive columns at random starts, so the
prior learns how a sound continues in time. A file shorter than a window is encoded with silence
appended up to the window, which teaches the prior that one-shots end (the same reason the crops
pad with silence rather than repeat, see distill/data/dataset.py); with ``max_gap_columns`` a
window may run on from a file's end, through some of that silence, into another file's start
(see :class:`CodeWindows`). Validation covers each held-out file, and
``val_takes_per_file - 1`` augmented takes of it, with consecutive windows, the last one aligned
to the file's end.

With ``takes_per_file`` > 1 each training file is also encoded in augmented takes (the data
module's ``augment``: gain, a small time shift, a colour tilt), and every window draws one of its
file's takes. The same sound at another level or a few milliseconds later is a different code
grid, so a small collection gives the prior several times the grids to learn from: on a 23-file
drum kit the prior otherwise overfits after ~115 steps, minutes into a CPU budget.

Each window says whether it begins a file (its first column is the file's first), which the prior
reads as its start token; ``file_start_share`` of the training windows are drawn to begin a file,
so "a new sound from its start" is learned from every file, however long. Setup also measures the
collection's shape (lengths, how its sounds decay; :class:`~distill.audio.envelope.CollectionShape`)
on the VQ-VAE's own decoding of the training grids, the space one-shot generation measures in.

With ``controls`` every take of every file is also described (``distill.audio.descriptors``:
loudness, brightness, length, noisiness, pitch, measured on the take's own audio, so a take 4 dB
louder is described 4 dB louder) and each window carries its take's values relative to the
collection's range (:class:`~distill.audio.control_space.ControlSpace`, from the training recordings),
which the prior is conditioned on.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from distill.audio.control_space import DESCRIPTORS, ControlSpace
from distill.audio.descriptors import describe
from distill.audio.envelope import CollectionShape, column_levels
from distill.audio.mel import log_mel, silence_frame
from distill.codes.convert import decode_windowed
from distill.data.code_windows import CodeWindows, FileCodes
from distill.data.datamodule import SoundFolderDataModule
from distill.data.store import PreparedFile
from distill.files import write_npy_atomic
from distill.nn.vqvae import RVQVAE
from distill.weights import state_dict_digest

log = logging.getLogger(__name__)
SHAPE_FILES = 64
DESCRIPTOR_VERSION = 1  # part of the descriptor cache's name: bump when a definition changes


class CodeGridDataModule(SoundFolderDataModule):
    """The folder's files as code grids of the frozen VQ-VAE in ``vqvae`` (a run folder or checkpoint).

    Reuses the folder scan, cache and file-level split of :class:`SoundFolderDataModule`, so the
    prior's held-out files are exactly the VQ-VAE's.
    """

    def __init__(
        self,
        *,
        vqvae: str,
        context_columns: int,
        windows_per_file: int,
        max_gap_columns: int | None,
        file_start_share: float,
        takes_per_file: int = 1,
        val_takes_per_file: int = 1,
        controls: int = 0,
        pitched_rate_change: float = 0.0,
        **folder_settings: Any,
    ) -> None:
        # folder_settings: SoundFolderDataModule's own arguments (path, cache_dir, tier, mel, ...).
        super().__init__(**folder_settings)
        self.vqvae_source = str(vqvae)
        self.context_columns = context_columns
        self.windows_per_file = windows_per_file
        self.max_gap_columns = max_gap_columns
        self.file_start_share = file_start_share
        if takes_per_file < 1:
            raise ValueError(f"takes_per_file must be >= 1 (1 = the recordings only), got {takes_per_file}")
        if takes_per_file > 1 and self.augment is None:
            log.warning(
                "takes_per_file=%d needs data.augment; training on the recordings only", takes_per_file
            )
            takes_per_file = 1
        if val_takes_per_file < 1:
            raise ValueError(
                f"val_takes_per_file must be >= 1 (1 = the recordings only), got {val_takes_per_file}"
            )
        self.takes_per_file = takes_per_file
        self.val_takes_per_file = val_takes_per_file if self.augment is not None else 1
        if controls not in (0, len(DESCRIPTORS)):
            raise ValueError(
                f"controls must be 0 (none) or {len(DESCRIPTORS)} ({', '.join(DESCRIPTORS)}), got {controls}"
            )
        self.controls = controls
        self.control_space: ControlSpace | None = None
        if not 0.0 <= pitched_rate_change < 1.0:
            raise ValueError(f"pitched_rate_change must be in [0, 1), got {pitched_rate_change}")
        self.pitched_rate_change = pitched_rate_change
        cache_dir = folder_settings["cache_dir"]
        self.code_cache_root = Path(cache_dir).expanduser() / "codes" if cache_dir else None
        self.vqvae_digest: str | None = None
        self.train_codes: list[FileCodes] = []
        self.val_codes: list[FileCodes] = []
        self.shape: CollectionShape | None = None

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if self.train_codes:
            return  # setup runs once per stage; the codes do not change between them
        from distill.models.loading import load_vqvae_net  # models build on data: import late

        net = load_vqvae_net(self.vqvae_source)
        self.vqvae_digest = state_dict_digest(net.state_dict())
        if self.controls:
            self._spread_pitch_if_pitched()
        self.train_codes = [
            self._codes(net, prepared, takes=self.takes_per_file) for prepared in self.train_files
        ]
        self.val_codes = [
            self._codes(net, prepared, takes=self.val_takes_per_file) for prepared in self.val_files
        ]
        self.shape = self._measure_shape(net)
        if self.controls:
            self._describe_takes()
        log.info(
            "Code grids of %d training and %d validation file(s) from VQ-VAE %s (digest %s)",
            len(self.train_codes),
            len(self.val_codes),
            self.vqvae_source,
            self.vqvae_digest[:12],
        )

    def _codes(self, net: RVQVAE, prepared: PreparedFile, *, takes: int = 1) -> FileCodes:
        columns = -(-prepared.n_frames // net.frames_per_column)
        padded_columns = max(columns, self.context_columns)
        grids = [self._take(net, prepared, padded_columns, take) for take in range(takes)]
        return FileCodes(
            grid=grids[0], columns=columns, takes=tuple(grid.to(torch.int16) for grid in grids[1:])
        )

    def _take(self, net: RVQVAE, prepared: PreparedFile, padded_columns: int, take: int) -> torch.Tensor:
        """Take 0 is the recording; take k > 0 its augmented copy (see ``_take_audio``)."""
        cached = self._cache_path(prepared, padded_columns, take)
        if cached is not None and cached.exists():
            return torch.from_numpy(np.load(cached)).long()
        _, mel = self._take_audio(prepared, take)
        grid = self._encode(net, mel, padded_columns)
        if cached is not None:
            write_npy_atomic(cached, grid.to(torch.int16).numpy())
        return grid

    def _take_audio(self, prepared: PreparedFile, take: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio [T], log-mel [n_mels, F]) of take 0 (the recording) or take k > 0 (its augmented
        copy, drawn with seed (file, k, split seed), so every run and cache agrees on it)."""
        audio, stored_mel = self.store.arrays(prepared)
        audio = torch.from_numpy(np.array(audio))
        if take == 0:
            return audio, torch.from_numpy(np.array(stored_mel))
        seed = int(prepared.content_hash[:12], 16) + 7919 * take + self.split_seed
        augmented = self.augment(audio, torch.Generator().manual_seed(seed))
        return augmented, log_mel(augmented[None], self.mel_config)[0, :, : prepared.n_frames]

    def _spread_pitch_if_pitched(self) -> None:
        """For a collection with a pitch control, the takes are also played at other rates (up to
        ``pitched_rate_change``, pitch and time together): 30 piano notes a minor third apart give
        the prior no sound between them, and a request for the key between two would have nothing
        to draw from."""
        recordings = np.stack([self._descriptors(prepared, 1)[0] for prepared in self.train_files])
        pitched = "pitch" in ControlSpace.measure(recordings).ranges
        if pitched and self.pitched_rate_change > 0 and self.augment is not None:
            self.augment = copy.copy(self.augment)
            self.augment.max_rate_change = max(self.augment.max_rate_change, self.pitched_rate_change)
            log.info(
                "Pitched collection: augmented takes also change rate by up to %.0f %%",
                100 * self.augment.max_rate_change,
            )

    def _describe_takes(self) -> None:
        """Descriptors of every take, the collection's range from the training recordings, and each
        file's relative values for the prior (``FileCodes.controls``)."""
        train = [
            self._descriptors(prepared, 1 + len(codes.takes))
            for prepared, codes in zip(self.train_files, self.train_codes, strict=True)
        ]
        val = [
            self._descriptors(prepared, 1 + len(codes.takes))
            for prepared, codes in zip(self.val_files, self.val_codes, strict=True)
        ]
        self.control_space = ControlSpace.measure(np.stack([takes[0] for takes in train]))

        def relative(takes: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(self.control_space.relative(takes)).float()

        self.train_codes = [
            replace(codes, controls=relative(d)) for codes, d in zip(self.train_codes, train, strict=True)
        ]
        self.val_codes = [
            replace(codes, controls=relative(d)) for codes, d in zip(self.val_codes, val, strict=True)
        ]
        log.info(
            "Controls: %s",
            "; ".join(
                f"{name} {self.control_space.describe_range(name)}" for name in self.control_space.ranges
            ),
        )

    def _descriptors(self, prepared: PreparedFile, takes: int) -> np.ndarray:
        """[takes, len(DESCRIPTORS)] descriptors of a file's takes, cached beside the code grids."""
        cached = None
        if self.code_cache_root is not None:
            settings = self._augment_settings() if takes > 1 else "none"
            folder = (
                self.code_cache_root / f"descriptors-v{DESCRIPTOR_VERSION}-{self.mel_config.fingerprint()}"
            )
            cached = folder / f"{prepared.content_hash}-{takes}-{settings}-{self.split_seed}.npy"
            if cached.exists():
                return np.load(cached)
        rows = [
            describe(audio, self.mel_config, mel=mel)
            for audio, mel in (self._take_audio(prepared, take) for take in range(takes))
        ]
        described = np.stack(rows)
        if cached is not None:
            write_npy_atomic(cached, described)
        return described

    @torch.no_grad()
    def _measure_shape(self, net: RVQVAE) -> CollectionShape:
        """Lengths of the training files, and how their sounds decay as the VQ-VAE decodes them."""
        hop, rate = self.mel_config.hop_length, self.mel_config.sample_rate
        # How sounds end, from up to SHAPE_FILES files spread over the set: decoding every file of
        # a large collection at each start of training would cost minutes for no better a median.
        pairs = list(zip(self.train_files, self.train_codes, strict=True))
        sampled = pairs[:: max(1, -(-len(pairs) // SHAPE_FILES))]
        levels = []
        for prepared, codes in sampled:
            mel = decode_windowed(net, codes.own, n_frames=prepared.n_frames, window_columns=64, overlap=0.1)
            levels.append(column_levels(mel, net.frames_per_column))
        silence = silence_frame(self.mel_config)[:, None].repeat(
            1, self.context_columns * net.frames_per_column
        )
        decoded_silence = net.decode(net.encode(silence[None]))[0]
        return CollectionShape.measure(
            [prepared.n_frames * hop / rate for prepared in self.train_files],
            levels,
            silence_level=float(column_levels(decoded_silence, net.frames_per_column).max()),
        )

    def _cache_path(self, prepared: PreparedFile, padded_columns: int, take: int) -> Path | None:
        if self.code_cache_root is None:
            return None
        folder = self.code_cache_root / f"{self.vqvae_digest[:24]}-{self.mel_config.fingerprint()}"
        if take == 0:
            return folder / f"{prepared.content_hash}-{padded_columns}.npy"
        # An augmented take depends on the augmentation settings and the seed as well.
        settings = self._augment_settings()
        return (
            folder / f"{prepared.content_hash}-{padded_columns}-take{take}-{settings}-{self.split_seed}.npy"
        )

    def _augment_settings(self) -> str:
        """A short digest of the augmentation's settings: part of an augmented take's cache names."""
        return hashlib.sha256(repr(sorted(vars(self.augment).items())).encode()).hexdigest()[:12]

    @torch.no_grad()
    def _encode(self, net: RVQVAE, mel: torch.Tensor, padded_columns: int) -> torch.Tensor:
        """Whole-file grid [Q, R, padded_columns]: the mel [n_mels, F], silence after it, encoded in one piece."""
        frames = padded_columns * net.frames_per_column
        padded = silence_frame(self.mel_config)[:, None].repeat(1, frames)
        padded[:, : mel.shape[1]] = mel
        return net.encode(padded[None])[0]

    def _loader(self, dataset: Dataset, *, batch_size: int, shuffle: bool) -> DataLoader:
        options = {**self.loader_options, "collate_fn": None}  # windows stack as plain tensors
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, **options)

    def train_dataloader(self) -> DataLoader:
        windows = CodeWindows(
            files=self.train_codes,
            context_columns=self.context_columns,
            windows_per_file=self.windows_per_file,
            max_gap_columns=self.max_gap_columns,
            file_start_share=self.file_start_share,
        )
        return self._loader(windows, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_codes:
            return []
        # Every take of every held-out file, tiled: a few files' loss alone is too noisy to stop on.
        takes = [
            FileCodes(
                grid=grid.long(),
                columns=codes.columns,
                controls=None if codes.controls is None else codes.controls[take : take + 1],
            )
            for codes in self.val_codes
            for take, grid in enumerate((codes.grid, *codes.takes))
        ]
        tiles = CodeWindows.tiles(takes, self.context_columns)
        windows = CodeWindows(files=takes, context_columns=self.context_columns, starts=tiles)
        return self._loader(windows, batch_size=self.val_batch_size, shuffle=False)

    def summary_section(self) -> dict:
        """Which VQ-VAE made the codes (packaging refuses a prior bundled with any other), the
        collection's shape (generation's default mode and when a one-shot is over) and the range of
        each control (what a request's 0..1 means)."""
        return {
            "vqvae": {"run": self.vqvae_source, "digest": self.vqvae_digest},
            "sounds": self.shape.as_dict() if self.shape is not None else None,
            "controls": self.control_space.as_dict() if self.control_space is not None else None,
        }
