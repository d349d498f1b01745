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
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from distill.audio.envelope import CollectionShape, column_levels
from distill.audio.mel import log_mel, silence_frame
from distill.codes.convert import decode_windowed
from distill.data.datamodule import SoundFolderDataModule
from distill.data.store import PreparedFile
from distill.files import write_npy_atomic
from distill.nn.code_layout import flatten_grid
from distill.nn.vqvae import RVQVAE
from distill.weights import state_dict_digest

log = logging.getLogger(__name__)
SHAPE_FILES = 64


@dataclass(frozen=True, kw_only=True)
class FileCodes:
    """The code grid of one recording."""

    grid: torch.Tensor  # [Q, R, C_padded] long; silence-padded to at least one window
    columns: int  # columns of the recording itself (ceil(frames / 16)); the rest is padding
    # Grids of augmented takes, each shaped like ``grid``; int16 (codes < 2^15) to hold 7 takes of
    # a large collection in a quarter of the memory.
    takes: tuple[torch.Tensor, ...] = ()

    def any_take(self) -> torch.Tensor:
        """The recording's grid or one of its augmented takes (long), drawn from the global torch RNG."""
        if not self.takes:
            return self.grid
        pick = int(torch.randint(0, len(self.takes) + 1, ()))
        return self.grid if pick == 0 else self.takes[pick - 1].long()

    @property
    def own(self) -> torch.Tensor:
        """The recording's own columns, [Q, R, columns]: what memorization compares."""
        return self.grid[..., : self.columns]


class CodeWindow(NamedTuple):
    """One prior training item; batches of them stack field by field (default collation)."""

    tokens: torch.Tensor  # [context_columns * R * Q] in the prior's token order; [B, T] batched
    file_start: torch.Tensor  # bool scalar: the window's first column is a file's first; [B] batched


class CodeWindows(Dataset):
    """Windows of consecutive columns (:class:`CodeWindow`), in the prior's token order.

    ``starts`` None: each item draws a random start (training; item i belongs to file i % n);
    ``file_start_share`` of them start at the file's first column. Otherwise a fixed list of
    (file, start column) pairs (validation tiles).

    ``max_gap_columns`` (training): a window may start anywhere in a file and run on past its end,
    through 0..max_gap_columns columns of its silence, into the start of another random file, as
    if the collection were played one sound after another. Without it a one-shot's window is
    always the sound then silence, and a prior never sees a window that starts in silence: after
    its first window slides, a long generation has nothing to go on but silence. With it the
    prior learns that a new sound may begin after a pause, so long generations hold several.
    """

    def __init__(
        self,
        *,
        files: list[FileCodes],
        context_columns: int,
        windows_per_file: int = 1,
        starts: list[tuple[int, int]] | None = None,
        max_gap_columns: int | None = None,
        file_start_share: float = 0.0,
    ) -> None:
        if not 0.0 <= file_start_share <= 1.0:
            raise ValueError(f"file_start_share must be in [0, 1], got {file_start_share}")
        self.files = files
        self.context_columns = context_columns
        self.windows_per_file = windows_per_file
        self.starts = starts
        self.max_gap_columns = max_gap_columns
        self.file_start_share = file_start_share

    def __len__(self) -> int:
        return len(self.starts) if self.starts is not None else len(self.files) * self.windows_per_file

    def __getitem__(self, index: int) -> CodeWindow:
        # Global torch RNG below: seed_everything(workers=True) makes it reproducible per worker and epoch.
        if self.starts is not None:
            file_index, start = self.starts[index]
            grid = self.files[file_index].grid[..., start : start + self.context_columns]
        else:
            file_index = index % len(self.files)
            span = self.files[file_index].grid.shape[-1] - self.context_columns
            if self.max_gap_columns is not None:
                span = self.files[file_index].columns - 1  # run-on windows may start at any own column
            begins = float(torch.rand(())) < self.file_start_share
            start = 0 if begins else int(torch.randint(0, span + 1, ()))
            if self.max_gap_columns is None:
                grid = self.files[file_index].any_take()[..., start : start + self.context_columns]
            else:
                grid = self._run_on(file_index, start)
        tokens = flatten_grid(grid[None])[0]  # [context_columns * R * Q]
        return CodeWindow(tokens=tokens, file_start=torch.tensor(start == 0))

    def _run_on(self, file_index: int, start: int) -> torch.Tensor:
        """A window from column ``start`` of the file, continuing into another file after a gap."""
        codes = self.files[file_index]
        grid = codes.any_take()
        gap = int(torch.randint(0, self.max_gap_columns + 1, ()))
        # The padded grid holds the silence after the file (at least up to one window).
        first = min(codes.columns - start + gap, grid.shape[-1] - start, self.context_columns)
        head = grid[..., start : start + first]
        if first == self.context_columns:
            return head
        following = self.files[int(torch.randint(0, len(self.files), ()))].any_take()
        return torch.cat([head, following[..., : self.context_columns - first]], dim=-1)

    @staticmethod
    def tiles(files: list[FileCodes], context_columns: int) -> list[tuple[int, int]]:
        """Consecutive windows covering each file's own columns; the last one aligned to its end."""
        starts = []
        for file_index, codes in enumerate(files):
            file_starts = list(range(0, max(codes.columns - context_columns, 0) + 1, context_columns))
            if file_starts[-1] + context_columns < codes.columns:
                file_starts.append(codes.columns - context_columns)
            starts.extend((file_index, start) for start in file_starts)
        return starts


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
        self.train_codes = [
            self._codes(net, prepared, takes=self.takes_per_file) for prepared in self.train_files
        ]
        self.val_codes = [
            self._codes(net, prepared, takes=self.val_takes_per_file) for prepared in self.val_files
        ]
        self.shape = self._measure_shape(net)
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
        """Take 0 is the recording; take k > 0 its augmented copy drawn with seed (file, k, split seed)."""
        cached = self._cache_path(prepared, padded_columns, take)
        if cached is not None and cached.exists():
            return torch.from_numpy(np.load(cached)).long()
        audio, stored_mel = self.store.arrays(prepared)
        if take == 0:
            mel = torch.from_numpy(np.array(stored_mel))  # [n_mels, F]
        else:
            seed = int(prepared.content_hash[:12], 16) + 7919 * take + self.split_seed
            augmented = self.augment(torch.from_numpy(np.array(audio)), torch.Generator().manual_seed(seed))
            mel = log_mel(augmented[None], self.mel_config)[0, :, : prepared.n_frames]
        grid = self._encode(net, mel, padded_columns)
        if cached is not None:
            write_npy_atomic(cached, grid.to(torch.int16).numpy())
        return grid

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
        settings = hashlib.sha256(repr(sorted(vars(self.augment).items())).encode()).hexdigest()[:12]
        return (
            folder / f"{prepared.content_hash}-{padded_columns}-take{take}-{settings}-{self.split_seed}.npy"
        )

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
            FileCodes(grid=grid.long(), columns=codes.columns)
            for codes in self.val_codes
            for grid in (codes.grid, *codes.takes)
        ]
        tiles = CodeWindows.tiles(takes, self.context_columns)
        windows = CodeWindows(files=takes, context_columns=self.context_columns, starts=tiles)
        return self._loader(windows, batch_size=self.val_batch_size, shuffle=False)

    def summary_section(self) -> dict:
        """Which VQ-VAE made the codes (packaging refuses a prior bundled with any other) and the
        collection's shape (generation's default mode and when a one-shot is over)."""
        return {
            "vqvae": {"run": self.vqvae_source, "digest": self.vqvae_digest},
            "sounds": self.shape.as_dict() if self.shape is not None else None,
        }
