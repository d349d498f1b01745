"""CodeGrid: geometry, time slicing, joining, equality and the .codes file."""

import json
from dataclasses import replace

import pytest
import torch
from conftest import tiny_rvqvae

from distill.codes.grid import FORMAT_VERSION, CodeGrid
from distill.errors import UserError

COLUMN_S = 16 * 512 / 44100  # 0.1858 s


def grid(columns: int = 6, *, n_frames: int | None = None, digest: str = "a" * 64, seed: int = 0) -> CodeGrid:
    codes = torch.randint(0, 64, (4, 8, columns), generator=torch.Generator().manual_seed(seed))
    return CodeGrid(
        codes=codes,
        n_frames=n_frames or columns * 16 - 5,
        frames_per_column=16,
        sample_rate=44100,
        hop_length=512,
        vqvae_digest=digest,
        mel_fingerprint="mel-1",
    )


def test_geometry_in_columns_and_seconds():
    g = grid(6, n_frames=90)
    assert (g.levels, g.rows, g.columns) == (4, 8, 6)
    assert g.column_seconds == pytest.approx(COLUMN_S)
    assert g.seconds == pytest.approx(90 * 512 / 44100)
    assert g.column_at(0.0) == 0 and g.column_at(COLUMN_S * 2.5) == 2 and g.column_at(g.seconds) == 5


def test_a_grid_refuses_impossible_shapes_and_frame_counts():
    with pytest.raises(ValueError, match="levels, rows, columns"):
        replace(grid(), codes=torch.zeros(8, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="n_frames must be in 81..96"):
        grid(6, n_frames=80)
    with pytest.raises(ValueError, match="eval mode"):
        replace(grid(), codes=torch.full((4, 8, 6), -1))


def test_slices_keep_whole_columns_and_the_real_frames_of_the_last():
    g = grid(6, n_frames=90)
    middle = g.slice_columns(1, 3)
    assert middle.columns == 2 and middle.n_frames == 32 and torch.equal(middle.codes, g.codes[..., 1:3])
    tail = g.slice_columns(4)
    assert tail.n_frames == 90 - 64
    assert g.slice_seconds(COLUMN_S * 1.2, COLUMN_S * 2.8) == middle
    assert g.slice_columns(0) == g  # the identity slice
    for start, stop in ((3, 3), (-1, 2), (2, 7)):
        with pytest.raises(UserError, match="not a region"):
            g.slice_columns(start, stop)
    with pytest.raises(UserError, match="outside the grid"):
        g.slice_seconds(5.0)


def test_joining_keeps_columns_aligned_and_refuses_another_models_grid():
    first, second = grid(3, n_frames=40), grid(2, n_frames=20, seed=1)
    joined = first.concat(second)
    assert joined.columns == 5 and joined.n_frames == 3 * 16 + 20
    assert torch.equal(joined.codes, torch.cat([first.codes, second.codes], dim=-1))
    assert joined.slice_columns(0, 3).codes.equal(first.codes)
    with pytest.raises(UserError, match="different models"):
        first.concat(grid(2, digest="b" * 64))


def test_equality_is_codes_frames_and_space():
    assert grid() == grid() and grid() != grid(seed=1)
    assert grid() != grid(n_frames=6 * 16) and grid() != grid(digest="b" * 64)


def test_a_codes_file_round_trips_and_holds_no_pickle(tmp_path):
    g = grid(7, n_frames=100)
    path = g.save(tmp_path / "hit.codes")
    assert CodeGrid.load(path) == g
    header_length = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_length])
    meta = json.loads(header["__metadata__"]["distill"])
    assert meta["format"] == "distill.codes" and meta["version"] == FORMAT_VERSION and meta["n_frames"] == 100
    assert not [p for p in tmp_path.iterdir() if p.name != "hit.codes"]  # no temp file left


def test_unreadable_files_are_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no such code-grid file"):
        CodeGrid.load(tmp_path / "missing.codes")
    (tmp_path / "junk.codes").write_bytes(b"not a grid at all")
    with pytest.raises(UserError, match="is not a code-grid file"):
        CodeGrid.load(tmp_path / "junk.codes")
    newer = tmp_path / "newer.codes"
    grid().save(newer)
    data = newer.read_bytes().replace(b'\\"version\\": 1', b'\\"version\\": 9')
    newer.write_bytes(data)
    with pytest.raises(UserError, match="version 9 code grid"):
        CodeGrid.load(newer)


def test_decoding_with_another_vqvae_names_both():
    with pytest.raises(UserError, match=r"VQ-VAE aaaaaaaaaaaa, but drums's VQ-VAE is bbbbbbbbbbbb"):
        grid().check_model("b" * 64, "drums")
    grid().check_model("a" * 64, "drums")


def test_the_vqvae_exposes_its_columns_frames():
    net = tiny_rvqvae()
    codes = net.encode(torch.zeros(1, 128, 40))
    assert net.frames_per_column == 16 and codes.shape[-1] == -(-40 // net.frames_per_column)
