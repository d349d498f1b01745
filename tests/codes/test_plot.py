"""The mel + code-grid PNG: a valid image of plausible size, written atomically, inputs checked."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from distill.codes.plot import plot_generation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk comes first: width and height as big-endian uint32 after its 8-byte header.
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png_with_one_panel_per_level(tmp_path):
    generator = torch.Generator().manual_seed(0)
    mel = torch.randn(128, 160, generator=generator) - 5.0  # [128, T]: 10 columns of 16 frames
    codes = torch.randint(0, 64, (4, 8, 10), generator=generator)  # [Q, R, C]
    path = plot_generation(
        mel, codes, tmp_path / "plots" / "take.png", title="drums, seed 0", frames_per_column=16
    )
    assert path == tmp_path / "plots" / "take.png"
    data = path.read_bytes()
    width, height = png_size(data)
    assert width == 1000 and 500 <= height <= 1200
    assert 10_000 < len(data) < 2_000_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["take.png"]  # no temp file left behind

    # Fewer levels make a shorter figure: the code panels really are one per level.
    two_levels = plot_generation(mel.numpy(), codes[:2].numpy(), tmp_path / "two.png", frames_per_column=16)
    assert png_size(two_levels.read_bytes())[1] < height


def test_plot_accepts_a_mel_that_does_not_fill_the_last_column(tmp_path):
    mel = np.full((128, 150), -11.5, dtype=np.float32)  # silence, 150 frames < 10 * 16
    codes = np.zeros((1, 8, 10), dtype=np.int64)
    assert plot_generation(mel, codes, tmp_path / "silence.png", frames_per_column=16).stat().st_size > 1000


@pytest.mark.parametrize(
    ("mel_shape", "codes", "message"),
    [
        ((1, 128, 32), torch.zeros(2, 8, 2, dtype=torch.long), "mel must be"),
        ((128, 32), torch.zeros(8, 2, dtype=torch.long), "codes must be"),
        ((128, 32), torch.zeros(2, 8, 2), "integer"),
        ((128, 32), torch.full((2, 8, 2), -1), "non-negative"),
    ],
)
def test_plot_rejects_wrong_inputs(tmp_path, mel_shape, codes, message):
    with pytest.raises(ValueError, match=message):
        plot_generation(torch.zeros(mel_shape), codes, tmp_path / "bad.png", frames_per_column=16)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "take.png"
    target.write_bytes(b"old picture")

    def failing_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_generation(
            torch.zeros(128, 32), torch.zeros(1, 8, 2, dtype=torch.long), target, frames_per_column=16
        )
    assert [p.name for p in tmp_path.iterdir()] == ["take.png"] and target.read_bytes() == b"old picture"


def test_an_edit_is_drawn_before_and_after_with_its_region_on_one_colour_scale(tmp_path):
    from PIL import Image

    from distill.codes.plot import plot_edit

    mel = torch.full((128, 96), -8.0)
    before = torch.randint(0, 16, (2, 8, 6))
    after = before.clone()
    after[:, 2:6, 1:3] = 15
    single = plot_generation(mel, before, tmp_path / "one.png", frames_per_column=16, codebook_size=16)
    path = plot_edit(
        (mel, before),
        (mel, after),
        tmp_path / "edit.png",
        frames_per_column=16,
        codebook_size=16,
        region=(1, 3, (2, 6), None),
        title="transplant",
    )
    one, two = Image.open(single), Image.open(path)
    assert two.width == 2 * one.width and two.height == one.height
    # the fixed scale: a grid whose largest code is 3 is drawn in other colours without it
    free = plot_generation(mel, before.clamp(max=3), tmp_path / "free.png", frames_per_column=16)
    fixed = plot_generation(
        mel, before.clamp(max=3), tmp_path / "fixed.png", frames_per_column=16, codebook_size=16
    )
    assert Image.open(free).tobytes() != Image.open(fixed).tobytes()
