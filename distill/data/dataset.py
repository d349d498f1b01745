"""Fixed-length crops of prepared recordings, as batches of aligned (mel, audio, mask).

Clips shorter than a crop are padded with digital silence (audio zeros, whose mel is the
constant floor column) and a frame mask marks the real frames. Silence, not repetition: most
short clips in a sound collection are one-shots whose natural continuation is silence, and
repeating them would teach every model (and the prior above all) rhythms that are not in the
data. The mask lets losses ignore the padding where it matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from distill.audio.augment import WaveAugment
from distill.audio.mel import MelConfig, log_mel, silence_frame
from distill.data.store import FileStore, PreparedFile


@dataclass(kw_only=True)
class Clip:
    mel: torch.Tensor  # [n_mels, F]
    audio: torch.Tensor  # [1, F * hop]
    frame_mask: torch.Tensor  # [F] bool, True = real audio (not padding)
    file_index: int


@dataclass(kw_only=True)
class ClipBatch:
    """A batch of aligned crops (Lightning moves dataclass batches between devices as a whole)."""

    mel: torch.Tensor  # [B, n_mels, F]
    audio: torch.Tensor  # [B, 1, F * hop]
    frame_mask: torch.Tensor  # [B, F] bool
    file_index: torch.Tensor  # [B] long, index into the split's file list

    def __len__(self) -> int:
        return self.mel.shape[0]


def collate_clips(clips: list[Clip]) -> ClipBatch:
    return ClipBatch(
        mel=torch.stack([c.mel for c in clips]),
        audio=torch.stack([c.audio for c in clips]),
        frame_mask=torch.stack([c.frame_mask for c in clips]),
        file_index=torch.tensor([c.file_index for c in clips], dtype=torch.long),
    )


class _CropReader:
    """Reads frame-aligned crops from a store, padding past the end of a file with silence."""

    def __init__(
        self, *, store: FileStore, files: list[PreparedFile], crop_frames: int, mel_config: MelConfig
    ):
        self.store = store
        self.files = files
        self.crop_frames = crop_frames
        self.mel_config = mel_config
        self.silence = silence_frame(mel_config)  # [n_mels]

    def crop(self, file_index: int, start_frame: int) -> Clip:
        prepared = self.files[file_index]
        hop = self.mel_config.hop_length
        real = max(0, min(self.crop_frames, prepared.n_frames - start_frame))
        mel = self.silence[:, None].repeat(1, self.crop_frames)
        audio = torch.zeros(self.crop_frames * hop)
        if real:
            stored_audio, stored_mel = self.store.arrays(prepared)
            mel[:, :real] = torch.from_numpy(np.array(stored_mel[:, start_frame : start_frame + real]))
            audio[: real * hop] = torch.from_numpy(
                np.array(stored_audio[start_frame * hop : (start_frame + real) * hop])
            )
        mask = torch.arange(self.crop_frames) < real
        return Clip(mel=mel, audio=audio[None], frame_mask=mask, file_index=file_index)

    def audio_segment(self, file_index: int, start_sample: int) -> tuple[torch.Tensor, int]:
        """Audio crop at a sample offset (for augmentation), zero-padded; returns (audio, real samples)."""
        prepared = self.files[file_index]
        length = self.crop_frames * self.mel_config.hop_length
        stored, _ = self.store.arrays(prepared)
        piece = np.array(stored[start_sample : start_sample + length])
        audio = torch.zeros(length)
        audio[: len(piece)] = torch.from_numpy(piece)
        real = max(0, min(length, prepared.n_samples - start_sample))
        return audio, real


class RandomCropDataset(Dataset):
    """Training crops: item i is a random crop of file i % n_files, so every file is seen equally often.

    With an augmenter, crops start at any sample (sub-frame shifts come for free) and the mel
    is recomputed from the augmented audio; without one, cached mel frames are sliced directly.
    """

    def __init__(
        self,
        *,
        store: FileStore,
        files: list[PreparedFile],
        crop_frames: int,
        crops_per_file: int,
        mel_config: MelConfig,
        augment: WaveAugment | None,
    ) -> None:
        self.reader = _CropReader(store=store, files=files, crop_frames=crop_frames, mel_config=mel_config)
        self.crops_per_file = crops_per_file
        self.augment = augment

    def __len__(self) -> int:
        return len(self.reader.files) * self.crops_per_file

    def __getitem__(self, index: int) -> Clip:
        # Global torch RNG: Lightning's seed_everything(workers=True) seeds it per worker and epoch.
        file_index = index % len(self.reader.files)
        prepared = self.reader.files[file_index]
        crop_frames = self.reader.crop_frames
        if self.augment is None:
            start = int(torch.randint(0, max(1, prepared.n_frames - crop_frames + 1), ()))
            return self.reader.crop(file_index, start)
        audio, real = self._random_segment(file_index)
        audio = self.augment(audio)
        if self.augment.wants_partner() and len(self.reader.files) > 1:
            other = int(torch.randint(0, len(self.reader.files) - 1, ()))
            partner, partner_real = self._random_segment(other + (other >= file_index))
            audio = self.augment.mix(audio, self.augment(partner))
            real = max(real, partner_real)
        mel = log_mel(audio, self.reader.mel_config)
        hop = self.reader.mel_config.hop_length
        mask = torch.arange(crop_frames) < -(-real // hop)
        return Clip(mel=mel, audio=audio[None], frame_mask=mask, file_index=file_index)

    def _random_segment(self, file_index: int) -> tuple[torch.Tensor, int]:
        prepared = self.reader.files[file_index]
        length = self.reader.crop_frames * self.reader.mel_config.hop_length
        start_sample = int(torch.randint(0, max(1, prepared.n_samples - length + 1), ()))
        return self.reader.audio_segment(file_index, start_sample)


class TiledDataset(Dataset):
    """Validation crops: each file cut into consecutive crops (the last one padded), covering all of it."""

    def __init__(
        self, *, store: FileStore, files: list[PreparedFile], crop_frames: int, mel_config: MelConfig
    ):
        self.reader = _CropReader(store=store, files=files, crop_frames=crop_frames, mel_config=mel_config)
        self.items = [
            (file_index, start)
            for file_index, prepared in enumerate(files)
            for start in range(0, prepared.n_frames, crop_frames)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Clip:
        return self.reader.crop(*self.items[index])
