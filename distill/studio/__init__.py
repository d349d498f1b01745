"""The notebook studio: train, generate, manage and edit models from widgets (``Studio()``).

``Studio`` is imported on first use, so the job runner (``python -m distill.studio.job_runner``)
starts without loading the widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distill.studio.studio import Studio

__all__ = ["Studio"]


def __getattr__(name: str):
    if name == "Studio":
        from distill.studio.studio import Studio

        return Studio
    raise AttributeError(f"module 'distill.studio' has no attribute {name!r}")
