"""What every studio panel shares: the studio's places and library, a one-line status, actions
that never raise into the notebook, and the CSS names the browser (and its test) finds widgets by.

A panel's callbacks run in the kernel when a button is clicked: an exception there would print a
traceback into the output area. ``guarded`` turns every failure into one line on the panel's
status instead: a ``UserError`` says what to do, an ``OSError`` names the path, anything else
(a bug) says so in one line and leaves its traceback in ``studio.log`` beside the runs.
"""

from __future__ import annotations

import html
import io
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from distill.bundle.catalog import ModelLibrary, default_library_root
from distill.errors import UserError
from distill.files import file_system_error

log = logging.getLogger(__name__)

LOG_FILE = "studio.log"


def named(widget: widgets.Widget, name: str) -> widgets.Widget:
    """``widget`` with the CSS class ``ds-<name>``: how the page (and the browser test) finds it."""
    widget.add_class(f"ds-{name}")
    return widget


class Status(widgets.HTML):
    """One line under a panel: what just happened, or what went wrong and what to do."""

    def __init__(self, name: str) -> None:
        super().__init__(value="")
        named(self, f"{name}-status")

    def say(self, message: str) -> None:
        self._show(message, "ds-ok")

    def error(self, message: str) -> None:
        self._show(message, "ds-error")

    def clear(self) -> None:
        self.value = ""

    @property
    def text(self) -> str:
        """The message shown, without its markup (tests read it)."""
        return html.unescape(self.value.split(">", 1)[-1].rsplit("<", 1)[0]) if self.value else ""

    def _show(self, message: str, kind: str) -> None:
        self.value = f'<span class="{kind}">{html.escape(message)}</span>'


@dataclass
class StudioContext:
    """The studio's places and the hooks its panels call on each other.

    ``workspace``: where training runs, kept sounds and report pages go (``runs/``, ``kept/``,
    ``reports/``); ``library``: the model library (``DISTILL_HOME`` by default).
    """

    workspace: Path
    library_root: Path
    library_listeners: list[Callable[[], None]] = field(default_factory=list)
    open_editor: Callable[..., None] | None = None  # (grid, model, title) -> shows the Edit panel

    @classmethod
    def create(cls, workspace: str | Path | None, library: str | Path | None) -> StudioContext:
        return cls(
            workspace=Path(workspace or "distill-studio").expanduser().resolve(),
            library_root=Path(library).expanduser() if library else default_library_root(),
        )

    @property
    def library(self) -> ModelLibrary:
        return ModelLibrary(root=self.library_root)

    @property
    def runs(self) -> Path:
        return self.workspace / "runs"

    @property
    def kept(self) -> Path:
        return self.workspace / "kept"

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"

    def library_changed(self) -> None:
        """A model was added, deleted or tagged: every panel that lists models refreshes."""
        for listener in self.library_listeners:
            listener()

    def log_failure(self, what: str, error: BaseException) -> None:
        """A bug's traceback goes to the workspace's log, never to the notebook's output area."""
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
            with open(self.workspace / LOG_FILE, "a", encoding="utf-8") as out:
                out.write(f"--- {what}\n{''.join(traceback.format_exception(error))}\n")
        except OSError:
            log.exception("%s failed", what)


def relist(dropdown: widgets.Dropdown, names: list[str] | tuple[str, ...]) -> str | None:
    """Offer ``names``, keeping the chosen one while it is still there (else the first); the choice."""
    chosen = dropdown.value if dropdown.value in names else (names[0] if names else None)
    dropdown.options = names  # (which resets the value to the first)
    dropdown.value = chosen
    return chosen


def describe_failure(error: BaseException) -> str:
    """One line for the status: the user's sentence, the path that failed, or the bug's own words."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, OSError):
        told = file_system_error(error)
        if told is not None:
            return str(told)
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}."
    first = (str(error).strip().splitlines() or [""])[0]
    return f"Something went wrong ({type(error).__name__}: {first}); the studio's log has the details."


def guarded(context: StudioContext, status: Status, action: Callable[..., Any]) -> Callable[..., Any]:
    """``action`` as a widget callback: its failures become one line on ``status``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- every failure is told on the panel, none raised
            if not isinstance(error, UserError | OSError):
                context.log_failure(getattr(action, "__name__", "action"), error)
            status.error(describe_failure(error))
            return None

    return run


def progress_class(bar: widgets.FloatProgress, label: widgets.HTML) -> type:
    """A tqdm class that moves ``bar`` and writes "name: 120 MB of 450 MB" on ``label`` instead of
    printing: what a download (``huggingface_hub``'s ``tqdm_class``) reports in the page."""
    from tqdm.std import tqdm

    class WidgetProgress(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(file=io.StringIO(), disable=False)  # the widgets are its only output
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if self.total:
                bar.value = min(self.n / self.total, 1.0)
            done, total = (tqdm.format_sizeof(value, "B", 1024) for value in (self.n, self.total or 0))
            label.value = html.escape(f"{self.desc or 'downloading'}: {done} of {total}")
            return True

    return WidgetProgress
