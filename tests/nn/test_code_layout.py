import dataclasses

import pytest
import torch

from distill.nn.code_layout import CodeLayout, flatten_grid, unflatten_tokens


def test_flatten_unflatten_round_trip():
    codes = torch.randint(0, 64, (3, 4, 8, 5))  # [B, Q, R, C]
    tokens = flatten_grid(codes)
    assert tokens.shape == (3, 5 * 8 * 4)
    assert torch.equal(unflatten_tokens(tokens, levels=4, rows=8), codes)


def test_flatten_order_is_column_then_row_then_level():
    levels, rows, columns = 2, 3, 2
    codes = torch.zeros(1, levels, rows, columns, dtype=torch.long)
    for q in range(levels):
        for r in range(rows):
            for c in range(columns):
                codes[0, q, r, c] = 100 * c + 10 * r + q
    expected = [100 * c + 10 * r + q for c in range(columns) for r in range(rows) for q in range(levels)]
    assert flatten_grid(codes)[0].tolist() == expected


def test_index_tensors_match_flattened_grid():
    layout = CodeLayout(levels=4, rows=8)
    q = torch.arange(4)[:, None, None].expand(4, 8, 6)
    r = torch.arange(8)[None, :, None].expand(4, 8, 6)
    c = torch.arange(6)[None, None, :].expand(4, 8, 6)
    n = 6 * 32
    assert torch.equal(layout.level_ids(n), flatten_grid(q[None])[0])
    assert torch.equal(layout.row_ids(n), flatten_grid(r[None])[0])
    assert torch.equal(layout.column_ids(n), flatten_grid(c[None])[0])


def test_offset_window_gets_ids_of_its_clip_positions():
    layout = CodeLayout(levels=4, rows=8)
    full_levels, full_rows, full_cols = layout.level_ids(200), layout.row_ids(200), layout.column_ids(200)
    for offset in (0, 3, 37, 64):
        assert torch.equal(layout.level_ids(50, offset=offset), full_levels[offset : offset + 50])
        assert torch.equal(layout.row_ids(50, offset=offset), full_rows[offset : offset + 50])
        assert torch.equal(layout.column_ids(50, offset=offset), full_cols[offset : offset + 50])


def test_layout_checks_shapes():
    layout = CodeLayout(levels=4, rows=8)
    with pytest.raises(ValueError, match="expected codes"):
        layout.flatten(torch.zeros(1, 3, 8, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="whole number of columns"):
        unflatten_tokens(torch.zeros(1, 33, dtype=torch.long), levels=4, rows=8)
    with pytest.raises(ValueError, match="levels >= 1"):
        CodeLayout(levels=0, rows=8)
    codes = torch.randint(0, 8, (2, 4, 8, 3))
    assert torch.equal(layout.unflatten(layout.flatten(codes)), codes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.levels = 2
