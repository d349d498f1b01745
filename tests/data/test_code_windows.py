"""Code windows for the prior: consecutive columns of one file, tiles covering held-out files,
and which windows begin a file (the prior's START token)."""

import torch
from torch.utils.data import DataLoader

from distill.data.code_windows import CodeWindow, CodeWindows, FileCodes
from distill.nn.code_layout import flatten_grid, unflatten_tokens


def grid(columns: int, *, levels: int = 2, rows: int = 3, start: int = 0) -> torch.Tensor:
    # Column c holds the value start + c everywhere, so a window's columns can be read back.
    values = torch.arange(start, start + columns)
    return values.view(1, 1, -1).expand(levels, rows, -1).clone()


def test_training_windows_are_runs_of_consecutive_columns_of_one_file():
    files = [FileCodes(grid=grid(10), columns=10), FileCodes(grid=grid(4, start=100), columns=3)]
    windows = CodeWindows(files=files, context_columns=4, windows_per_file=5)
    assert len(windows) == 10
    torch.manual_seed(0)
    for index in range(len(windows)):
        tokens = windows[index].tokens
        assert tokens.shape == (4 * 3 * 2,)
        columns = unflatten_tokens(tokens[None], levels=2, rows=3)[0, 0, 0]
        assert torch.equal(columns, columns[0] + torch.arange(4)), "consecutive columns"
        assert (columns >= 100).all() == (index % 2 == 1), "item i comes from file i % n"


def test_windows_use_the_prior_token_order():
    files = [FileCodes(grid=torch.randint(0, 9, (2, 3, 4)), columns=4)]
    windows = CodeWindows(files=files, context_columns=4, starts=[(0, 0)])
    assert torch.equal(windows[0].tokens, flatten_grid(files[0].grid[None])[0])


def test_tiles_cover_each_file_once_with_the_last_window_aligned_to_its_end():
    files = [
        FileCodes(grid=grid(10), columns=10),  # 0, 4, then 6 (aligned to the end)
        FileCodes(grid=grid(8), columns=8),  # exactly two windows
        FileCodes(grid=grid(4), columns=2),  # shorter than a window: padded, one window
    ]
    assert CodeWindows.tiles(files, 4) == [(0, 0), (0, 4), (0, 6), (1, 0), (1, 4), (2, 0)]


def test_own_columns_exclude_the_silence_padding():
    codes = FileCodes(grid=grid(6), columns=2)
    assert codes.own.shape == (2, 3, 2)


def test_windows_run_on_from_a_file_end_into_another_file_start():
    # Two short files: own columns 3 (values 0..2, padding 3..7) and 2 (values 100..101, padding ...).
    files = [FileCodes(grid=grid(8), columns=3), FileCodes(grid=grid(8, start=100), columns=2)]
    windows = CodeWindows(files=files, context_columns=8, windows_per_file=50, max_gap_columns=2)
    torch.manual_seed(0)
    joined = 0
    for index in range(len(windows)):
        columns = unflatten_tokens(windows[index].tokens[None], levels=2, rows=3)[0, 0, 0].tolist()
        first = files[index % 2]
        base = int(first.grid[0, 0, 0])
        start = columns[0] - base
        assert 0 <= start < first.columns, "windows start inside the file's own columns"
        # The file's columns (and at most 2 of its silence columns) run consecutively first ...
        run = next((i for i in range(1, 8) if columns[i] != columns[i - 1] + 1), 8)
        assert first.columns - start <= run <= first.columns - start + 2 or run == 8
        if run < 8:  # ... then another file from its first column on.
            joined += 1
            assert columns[run] in (0, 100)
            assert columns[run:] == list(range(columns[run], columns[run] + 8 - run))
    assert joined > 50


def _first_column(window: CodeWindow, base: int) -> int:
    return int(unflatten_tokens(window.tokens[None], levels=2, rows=3)[0, 0, 0, 0]) - base


def test_a_window_carries_its_start_column_and_is_a_file_start_exactly_at_the_first():
    files = [FileCodes(grid=grid(12), columns=12)]
    for gap in (None, 2):
        windows = CodeWindows(files=files, context_columns=4, windows_per_file=200, max_gap_columns=gap)
        torch.manual_seed(0)
        items = [windows[index] for index in range(len(windows))]
        starts = [_first_column(item, 0) for item in items]
        assert [int(item.start_column) for item in items] == starts  # what a timed prior reads
        assert all(bool(item.file_start) == (start == 0) for item, start in zip(items, starts, strict=True))
        assert 0 < starts.count(0) < len(starts)  # some windows begin the file, most do not


def test_file_start_share_draws_that_share_of_windows_from_the_first_column():
    files = [FileCodes(grid=grid(40), columns=40)]
    windows = CodeWindows(
        files=files, context_columns=4, windows_per_file=400, max_gap_columns=2, file_start_share=0.5
    )
    torch.manual_seed(0)
    share = sum(bool(windows[index].file_start) for index in range(len(windows))) / len(windows)
    assert 0.4 < share < 0.6  # 0.5 drawn + 1/40 by chance
    always = CodeWindows(files=files, context_columns=4, windows_per_file=20, file_start_share=1.0)
    assert all(bool(always[index].file_start) for index in range(len(always)))


def test_validation_tiles_flag_the_first_tile_of_each_file():
    files = [FileCodes(grid=grid(10), columns=10), FileCodes(grid=grid(4), columns=4)]
    windows = CodeWindows(files=files, context_columns=4, starts=CodeWindows.tiles(files, 4))
    assert [bool(windows[index].file_start) for index in range(len(windows))] == [True, False, False, True]


def test_windows_batch_into_tokens_and_flags():
    files = [FileCodes(grid=grid(10), columns=10)]
    windows = CodeWindows(files=files, context_columns=4, starts=[(0, 0), (0, 3), (0, 6)])
    batch = next(iter(DataLoader(windows, batch_size=3)))
    assert isinstance(batch, CodeWindow)
    assert batch.tokens.shape == (3, 24) and batch.file_start.tolist() == [True, False, False]
    assert batch.start_column.tolist() == [0, 3, 6]


def test_training_windows_draw_from_every_take_of_a_file():
    takes = (grid(6, start=100), grid(6, start=200))
    files = [FileCodes(grid=grid(6), columns=6, takes=takes)]
    for max_gap in (None, 2):
        windows = CodeWindows(files=files, context_columns=4, windows_per_file=60, max_gap_columns=max_gap)
        torch.manual_seed(0)
        firsts = {int(windows[i].tokens[0]) // 100 for i in range(len(windows))}
        assert firsts == {0, 1, 2}, "the recording and both takes"
    tiles = CodeWindows(files=files, context_columns=4, starts=CodeWindows.tiles(files, 4))
    assert all(int(tiles[i].tokens[0]) < 100 for i in range(len(tiles))), "validation: the recording"
