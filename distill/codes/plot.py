"""One picture of a generated sound: its mel spectrogram above its RVQ code grid, on one time axis.

The code grid [levels, rows, cols] is drawn as one panel per RVQ level, each showing the rows x cols
code indices as an image. A column covers ``DOWNSAMPLE`` (16) mel frames, so both are drawn against
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
from distill.bundle.format import atomic_write
from distill.nn.conv_codec import DOWNSAMPLE

_MEL = MelConfig()  # the fixed distill mel: its hop and sample rate set the time axis


def plot_generation(
    mel: np.ndarray | torch.Tensor,
    codes: np.ndarray | torch.Tensor,
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Save a PNG of ``mel`` [n_mels, T] (log-mel) above ``codes`` [Q, R, C] (code indices); return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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
    levels, rows, cols = codes_np.shape
    frame_s = _MEL.hop_length / _MEL.sample_rate
    mel_end = mel_np.shape[1] * frame_s
    codes_end = cols * DOWNSAMPLE * frame_s

    figure = Figure(figsize=(10.0, 3.0 + 1.1 * levels), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1 + levels, 1, height_ratios=[3.0] + [1.0] * levels)
    mel_axis = figure.add_subplot(grid[0])
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
    mel_axis.set_title("mel spectrogram", fontsize="medium", loc="left")

    # Code indices are categories, not magnitudes: a high-contrast map makes repeated codes visible.
    top = max(int(codes_np.max()), 1)
    for level in range(levels):
        axis = figure.add_subplot(grid[1 + level], sharex=mel_axis)
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
        if level < levels - 1:
            axis.tick_params(labelbottom=False)
    mel_axis.tick_params(labelbottom=False)
    mel_axis.set_xlim(0.0, max(mel_end, codes_end))
    axis.set_xlabel(
        f"time (s); one code column = {DOWNSAMPLE} mel frames = {DOWNSAMPLE * frame_s * 1000:.0f} ms"
    )
    if title:
        figure.suptitle(title)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))
    return path


def _to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)
