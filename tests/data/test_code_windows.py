"""Code windows for the prior: consecutive columns of one file, tiles covering held-out files."""

import torch

from distill.data.codes import CodeWindows, FileCodes
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
        tokens = windows[index]
        assert tokens.shape == (4 * 3 * 2,)
        columns = unflatten_tokens(tokens[None], levels=2, rows=3)[0, 0, 0]
        assert torch.equal(columns, columns[0] + torch.arange(4)), "consecutive columns"
        assert (columns >= 100).all() == (index % 2 == 1), "item i comes from file i % n"


def test_windows_use_the_prior_token_order():
    files = [FileCodes(grid=torch.randint(0, 9, (2, 3, 4)), columns=4)]
    windows = CodeWindows(files=files, context_columns=4, starts=[(0, 0)])
    assert torch.equal(windows[0], flatten_grid(files[0].grid[None])[0])


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
        columns = unflatten_tokens(windows[index][None], levels=2, rows=3)[0, 0, 0].tolist()
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
