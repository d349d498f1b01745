"""Code-grid edits on tiny grids: what each changes and keeps, regions refused, seeds reproducible."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_model import tiny_model

from distill.codes import edits
from distill.codes.grid import Region
from distill.codes.sampling import sample_batch
from distill.errors import UserError

SECONDS = 2.0  # 11 columns of a 4-column prior window: sampling slides


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _sound(seconds: float, pitch: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * 44100)) / 44100
    noise = np.random.default_rng(seed).standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.5)
    return (0.4 * np.sin(2 * np.pi * pitch * t) + 0.1 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def grids(model):
    return model.encode(_sound(SECONDS, 220, 0)), model.encode(_sound(SECONDS * 0.75, 660, 1))


def test_regions_outside_the_grid_are_refused(model, grids):
    grid, other = grids
    for region, name in [
        (Region(3, grid.columns + 1), "columns"),
        (Region(-1, 2), "columns"),
        (Region(2, 2), "columns"),
        (Region(0, 2, rows=(0, 9)), "rows"),
        (Region(0, 2, levels=(1, 3)), "levels"),
    ]:
        with pytest.raises(UserError, match=f"{name} .* outside the grid"):
            edits.transplant(grid, region, other, 0)
    with pytest.raises(UserError, match="outside the grid"):  # the source's columns too
        edits.transplant(grid, Region(0, 4), other, other.columns - 2)
    with pytest.raises(UserError, match="outside the grid"):
        edits.infill(grid, model, start=5, stop=grid.columns + 2, seed=0)
    with pytest.raises(UserError, match="outside the grid"):
        edits.cut(grid, 4, 40)


def test_transplant_copies_exactly_the_region(grids):
    grid, other = grids
    region = Region(2, 5, rows=(4, 8), levels=(1, 2))
    out = edits.transplant(grid, region, other, 1)
    assert torch.equal(out.codes[1:2, 4:8, 2:5], other.codes[1:2, 4:8, 1:4])
    untouched = torch.ones_like(grid.codes, dtype=torch.bool)
    untouched[1:2, 4:8, 2:5] = False
    assert torch.equal(out.codes[untouched], grid.codes[untouched])
    assert out.n_frames == grid.n_frames and grid == grids[0]  # the input is not changed
    assert edits.transplant(grid, Region(0, grid.columns), grid, 0) == grid  # identity
    with pytest.raises(UserError, match="different models"):
        edits.transplant(grid, Region(0, 2), replace(other, vqvae_digest="f" * 64), 0)


def test_level_variation_keeps_the_coarse_levels_and_is_seeded(model, grids):
    grid, _ = grids
    varied = edits.vary_levels(grid, model, from_level=1, seed=3)
    assert torch.equal(varied.codes[0], grid.codes[0])
    assert not torch.equal(varied.codes[1], grid.codes[1])
    assert varied == edits.vary_levels(grid, model, from_level=1, seed=3)
    assert varied != edits.vary_levels(grid, model, from_level=1, seed=4)
    assert edits.vary_levels(grid, model, from_level=grid.levels, seed=3) == grid  # identity
    part = edits.vary_levels(grid, model, from_level=1, seed=3, columns=(4, 7))
    assert torch.equal(part.codes[..., :4], grid.codes[..., :4]) and torch.equal(
        part.codes[..., 7:], grid.codes[..., 7:]
    )
    with pytest.raises(UserError, match="from_level must be in 1..2"):
        edits.vary_levels(grid, model, from_level=0, seed=3)
    with pytest.raises(UserError, match="no prior"):
        edits.vary_levels(grid, replace(model, prior=None), from_level=1, seed=3)
    with pytest.raises(UserError, match="belongs to VQ-VAE"):
        edits.vary_levels(replace(grid, vqvae_digest="f" * 64), model, from_level=1, seed=3)


def test_infill_resamples_only_its_columns_and_picks_the_best_joining_candidate(model, grids):
    grid, _ = grids
    start, stop = 4, 7
    filled = edits.infill(grid, model, start=start, stop=stop, seed=5, candidates=6)
    assert torch.equal(filled.codes[..., :start], grid.codes[..., :start])
    assert torch.equal(filled.codes[..., stop:], grid.codes[..., stop:])
    assert filled == edits.infill(grid, model, start=start, stop=stop, seed=5, candidates=6)
    # The kept fill is the candidate after which the right-hand columns are likeliest.
    prompt = grid.codes[..., start - (model.prior.context_columns - 1) : start]
    candidates = sample_batch(
        model.prior,
        batch_size=6,
        n_columns=stop - start,
        seed=5,
        prompt=prompt[None].expand(6, -1, -1, -1),
        **edits.SAMPLING,
    )[..., prompt.shape[-1] :]
    scores = edits.right_context_nll(model.prior, grid, candidates, start=start)
    assert torch.equal(filled.codes[..., start:stop], candidates[int(scores.argmin())])
    # left-only resampling: one candidate, taken as drawn
    left_only = edits.infill(grid, model, start=start, stop=stop, seed=5, candidates=1)
    one = sample_batch(
        model.prior, batch_size=1, n_columns=stop - start, seed=5, prompt=prompt[None], **edits.SAMPLING
    )[..., prompt.shape[-1] :]
    assert torch.equal(left_only.codes[..., start:stop], one[0])


def test_morph_ends_are_the_grids_and_a_curve_moves_between_them(model, grids):
    a, b = grids
    start = edits.morph(a, b, model, weight=0.0)
    assert start.columns == b.columns and torch.equal(start.codes, a.codes[..., : b.columns])
    assert start.n_frames == b.n_frames  # as long as the shorter grid
    end = edits.morph(a, b, model, weight=1.0)
    assert torch.equal(end.codes, b.codes)
    ramp = edits.morph(a, b, model, weight=[0.0, 1.0])
    assert torch.equal(ramp.codes[..., 0], a.codes[..., 0]) and torch.equal(
        ramp.codes[..., -1], b.codes[..., -1]
    )
    half = edits.morph(a, b, model, weight=0.5)
    assert not torch.equal(half.codes, start.codes) and not torch.equal(half.codes, end.codes)
    with pytest.raises(UserError, match="weights must be numbers in"):
        edits.morph(a, b, model, weight=[0.2, 1.5])


def test_time_edits(model, grids):
    grid, other = grids
    cut = edits.cut(grid, 2, 5)
    assert cut.columns == grid.columns - 3 and cut.n_frames == grid.n_frames - 3 * 16
    assert torch.equal(cut.codes, torch.cat([grid.codes[..., :2], grid.codes[..., 5:]], -1))
    with pytest.raises(UserError, match="every column"):
        edits.cut(grid, 0, grid.columns)

    looped = edits.loop(grid, 1, 3, times=3)
    assert torch.equal(looped.codes[..., 1:7], grid.codes[..., 1:3].repeat(1, 1, 3))
    assert looped.columns == grid.columns + 4 and looped.n_frames == grid.n_frames + 4 * 16
    assert edits.loop(grid, 1, 3, times=1) == grid  # identity

    gap = edits.insert_silence(grid, model, at=3, columns=2)
    assert gap.columns == grid.columns + 2 and torch.equal(gap.codes[..., 5:], grid.codes[..., 3:])
    silent = model.encode(np.zeros(44100, dtype=np.float32))  # digital silence, away from its edges
    assert torch.equal(gap.codes[..., 3:5], silent.codes[..., 2:4])
    assert torch.equal(
        edits.insert_silence(grid, model, at=grid.columns, columns=1).codes[..., :-1], grid.codes
    )

    joined = edits.join(grid, other, model, bridge_columns=2, seed=1)
    assert (
        joined.columns == grid.columns + 2 + other.columns
        and joined.n_frames == (grid.columns + 2) * 16 + other.n_frames
    )
    assert torch.equal(joined.codes[..., : grid.columns], grid.codes)
    assert torch.equal(joined.codes[..., grid.columns + 2 :], other.codes)
    assert joined == edits.join(grid, other, model, bridge_columns=2, seed=1)
