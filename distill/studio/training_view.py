"""What the Train panel shows of a running job: the progress line, the loss curves, the codebook
health and the newest preview, each drawn from the run folder (``distill.studio.jobs``)."""

from __future__ import annotations

import html
import io
from pathlib import Path

from distill.studio.jobs import PACKAGE, TrainingJob


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(job: TrainingJob, progress: dict) -> str:
    """e.g. "tiny · vqvae · step 135 · 64 % · about 0:18 left"."""
    state = job.state
    parts = [job.folder.name]
    if state.state == "running" and state.stage:
        stage = progress.get("stage") or {}
        parts.append("packaging" if state.stage == PACKAGE else state.stage)
        if "step" in stage:
            parts.append(f"step {stage['step']}")
    else:
        parts.append(state.state)
    parts.append(f"{progress['fraction']:.0%}")
    if state.state == "running":
        parts.append(f"about {duration_text(progress['remaining_s'])} left")
    if state.message:
        parts.append(state.message)
    return " · ".join(parts)


def curves_png(stage: dict | None) -> bytes:
    """The current stage's loss curves (one panel per metric, up to 4), PNG bytes; b'' without."""
    curves = (stage or {}).get("curves") or {}
    names = [name for name in curves if len(curves[name]) >= 2][:4]
    if not names:
        return b""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.0), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        steps, values = zip(*curves[name], strict=True)
        axis.plot(steps, values, linewidth=1.2)
        axis.set_title(name, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("step", fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def health_html(stage: dict | None) -> str:
    """The RVQ-VAE's codebook health per level (utilization, perplexity, dead codes) and warnings."""
    rows = (stage or {}).get("codebook") or []
    warnings = (stage or {}).get("warnings") or []
    if not rows and not warnings:
        return ""
    cells = "".join(
        f"<tr><td>{row['level']}</td><td>{row['utilization']:.0%}</td>"
        f"<td>{row['perplexity']:.1f}</td><td>{int(row['dead_codes'])}</td></tr>"
        for row in rows
    )
    table = (
        "<table class='ds-health-table'><tr><th>level</th><th>utilization</th><th>perplexity</th>"
        f"<th>dead codes</th></tr>{cells}</table>"
    )
    told = "".join(f"<div class='ds-error'>{html.escape(line)}</div>" for line in warnings[-3:])
    return f"<b>Codebook health</b> (last steps){table}{told}"


def newest_preview(job: TrainingJob) -> Path | None:
    """The newest audio preview any stage of the job has written (``<run>/previews/``)."""
    found = [path for path in job.folder.glob("*/previews/**/*.wav") if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime, default=None)
