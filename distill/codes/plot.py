"""Pictures of code grids: a sound's mel spectrogram above its RVQ code grid, on one time axis,
and an edit's before and after side by side.

The code grid [levels, rows, cols] is drawn as one panel per RVQ level, each showing the rows x cols
code indices as an image. A column covers ``frames_per_column`` (the RVQ-VAE's, 16) mel frames, so both are drawn against
seconds and the columns line up with the stretch of mel they encode. Rows and mel bands both run
upwards (low frequencies at the bottom), matching the encoder's 16x frequency downsampling.

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (no pyplot state, no display needed)
and written atomically, like every file distill writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.audio.mel import MelConfig
from distill.files import atomic_write

_MEL = MelConfig()  # the fixed distill mel: its hop and sample rate set the time axis


HighlightRegion = tuple[int, int, tuple[int, int] | None, tuple[int, int] | None]  # columns, rows, levels


def plot_generation(
    mel: np.ndarray | torch.Tensor,
    codes: np.ndarray | torch.Tensor,
    path: str | Path,
    *,
    frames_per_column: int,
    title: str | None = None,
    codebook_size: int | None = None,
    region: HighlightRegion | None = None,
) -> Path:
    """Save a PNG of ``mel`` [n_mels, T] (log-mel) above ``codes`` [Q, R, C] (code indices); return the path.

    ``codebook_size``: colours run over 0..codebook_size - 1, so a code index has the same colour in
    every plot of one model (else over the codes present). ``region``: ``(start, stop, rows,
    levels)`` in columns (rows/levels ``(first, stop)`` or None = all), outlined on the grid and
    shaded on the mel.
    """
    return _save([(mel, codes, None)], path, frames_per_column, codebook_size, region, title)


def plot_edit(
    before: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
    after: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
    path: str | Path,
    *,
    frames_per_column: int,
    codebook_size: int,
    region: HighlightRegion | None = None,
    title: str | None = None,
) -> Path:
    """Before and after an edit side by side: each ``(mel, codes)`` as in :func:`plot_generation`,
    on one colour scale, with the edited ``region`` marked on both."""
    panels = [(*before, "before"), (*after, "after")]
    return _save(panels, path, frames_per_column, codebook_size, region, title)


def _save(panels, path, frames_per_column, codebook_size, region, title) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arrays = [_checked(mel, codes) for mel, codes, _ in panels]
    levels = arrays[0][1].shape[0]
    top = codebook_size - 1 if codebook_size else max(max(int(codes.max()) for _, codes in arrays), 1)
    figure = Figure(figsize=(10.0 * len(panels), 3.0 + 1.1 * levels), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    outer = figure.add_gridspec(1, len(panels))
    for slot, ((mel_np, codes_np), (_, _, label)) in enumerate(zip(arrays, panels, strict=True)):
        cells = outer[slot].subgridspec(1 + levels, 1, height_ratios=[3.0] + [1.0] * levels)
        _draw(figure, cells, mel_np, codes_np, frames_per_column, top, region, label)
    if title:
        figure.suptitle(title)
    # No mkdir of its own: atomic_write makes the missing folders, and tells a place it cannot make
    # (a file on the way, permission denied) as one sentence naming ``path``.
    path = Path(path)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))
    return path


def _checked(mel, codes) -> tuple[np.ndarray, np.ndarray]:
    mel_np = _to_numpy(mel).astype(np.float32)  # [n_mels, T]
    codes_np = _to_numpy(codes)  # [Q, R, C]
    if mel_np.ndim != 2 or mel_np.shape[1] == 0:
        raise ValueError(f"mel must be [n_mels, T] with T > 0, got shape {tuple(mel_np.shape)}")
    if codes_np.ndim != 3 or 0 in codes_np.shape:
        raise ValueError(
            f"codes must be a non-empty [levels, rows, cols] grid, got shape {tuple(codes_np.shape)}"
        )
    if not np.issubdtype(codes_np.dtype, np.integer) or codes_np.min() < 0:
        raise ValueError("codes must be non-negative integer code indices (extract them in eval mode)")
    return mel_np, codes_np


def _draw(figure, cells, mel_np, codes_np, frames_per_column, top, region, label) -> None:
    """One mel panel above one panel per level, sharing a time axis in seconds."""
    from matplotlib.patches import Rectangle

    levels, rows, cols = codes_np.shape
    frame_s = _MEL.hop_length / _MEL.sample_rate
    column_s = frames_per_column * frame_s
    mel_end = mel_np.shape[1] * frame_s
    codes_end = cols * column_s
    mel_axis = figure.add_subplot(cells[0])
    # The floor of the log-mel is silence; anchoring the colour scale there keeps quiet passages dark
    # and makes two plots of the same model comparable.
    floor = float(np.log(_MEL.log_floor))
    mel_axis.imshow(
        mel_np,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap="magma",
        extent=(0.0, mel_end, 0.0, mel_np.shape[0]),
        vmin=floor,
        vmax=max(float(mel_np.max()), floor + 1.0),
    )
    mel_axis.set_ylabel("mel band")
    mel_axis.set_title(
        f"{label}: mel spectrogram" if label else "mel spectrogram", fontsize="medium", loc="left"
    )
    if region is not None:
        mel_axis.axvspan(region[0] * column_s, region[1] * column_s, color="white", alpha=0.15)

    # Code indices are categories, not magnitudes: a high-contrast map makes repeated codes visible.
    for level in range(levels):
        axis = figure.add_subplot(cells[1 + level], sharex=mel_axis)
        axis.imshow(
            codes_np[level],
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="turbo",
            extent=(0.0, codes_end, 0.0, rows),
            vmin=0,
            vmax=top,
        )
        axis.set_ylabel(f"level {level}\nrow", fontsize="small")
        axis.set_yticks([0, rows])
        if region is not None:
            start, stop, row_span, level_span = region
            first_level, stop_level = level_span or (0, levels)
            if first_level <= level < stop_level:
                first_row, stop_row = row_span or (0, rows)
                axis.add_patch(
                    Rectangle(
                        (start * column_s, first_row),
                        (stop - start) * column_s,
                        stop_row - first_row,
                        fill=False,
                        edgecolor="white",
                        linewidth=2.0,
                    )
                )
        if level < levels - 1:
            axis.tick_params(labelbottom=False)
    mel_axis.tick_params(labelbottom=False)
    mel_axis.set_xlim(0.0, max(mel_end, codes_end))
    axis.set_xlabel(f"time (s); one code column = {frames_per_column} mel frames = {column_s * 1000:.0f} ms")


def _to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)
