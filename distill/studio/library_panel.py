"""The studio's Library panel: the library's models in a table, and for the chosen one its facts
(what ``distill models info`` prints), its tags, deleting it (only after a confirmation) and its
report page (what ``distill report`` writes).

The table's columns and the info box are the CLI's own text (``distill.report.tables``,
``distill.report.model_info``), so a number reads the same in the terminal and in the studio. Every
action is a public method too (``select``, ``info``, ``add_tags``, ``delete``, ...), so a notebook
or a test drives the panel without a browser; none raises: a failure is one line on the status.
"""

from __future__ import annotations

import functools
import html
import io
import os
import threading
import types
from pathlib import Path
from urllib.parse import quote

import ipywidgets as widgets

from distill.bundle.errors import UnknownModelError
from distill.bundle.format import read_manifest, verify_model_file
from distill.errors import UserError
from distill.report.model_info import render_info
from distill.report.tables import NONE, entry_cells, generation_quality_text
from distill.studio.common import Status, StudioContext, guarded, named, relist

# Of `distill models list`'s columns, those a person chooses a model by; "quality" is the recorded
# generation evaluation (`distill evaluate`), which the list leaves to `models info`.
COLUMNS = ("name", "tier", "vocoder", "quality", "tags")
# `distill report`'s defaults (--sounds, --seed, --seconds): the page is the one that command writes.
REPORT_SOUNDS = 3
REPORT_SEED = 0
REPORT_SECONDS = 4.0
INFO_WIDTH = 110  # characters: rich wraps the info tables as in a wide terminal
INFO_FORMAT = (
    '<pre style="font-family: monospace; font-size: 12px; line-height: 1.3; overflow-x: auto;'
    ' color: {foreground}; background: {background}; padding: 6px">{code}</pre>'
)
TABLE_STYLE = "border-collapse: collapse; font-size: 13px"
CELL_STYLE = "padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left"


def _guarded(method):
    """A public method that never raises: its failure becomes one line on the panel's status."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        return guarded(self.context, self.status, types.MethodType(method, self))(*args, **kwargs)

    return run


def parse_tags(text: str) -> list[str]:
    """``"drums, dark"`` -> ``["drums", "dark"]``: tags may hold spaces, so commas separate them."""
    tags = [tag.strip() for tag in (text or "").split(",") if tag.strip()]
    if not tags:
        raise UserError("Type one or more tags (separated by commas) first.")
    return tags


def info_html(path: Path, manifest) -> str:
    """What ``distill models info`` prints for the model file ``path``, as HTML (colours kept)."""
    from rich.console import Console

    console = Console(
        record=True, file=io.StringIO(), width=INFO_WIDTH, color_system="truecolor", highlight=False
    )
    render_info(console, path, manifest)
    return console.export_html(inline_styles=True, code_format=INFO_FORMAT)


def served_url(path: Path) -> str | None:
    """The URL at which the Jupyter server that started this kernel serves ``path`` (its ``files/``
    handler); None outside Jupyter, or for a file outside the server's folder.

    A widget's HTML is not rewritten as a Markdown output's links are, so a relative link would
    resolve against the notebook page's URL (``/notebooks/...``), which serves no file.
    """
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    parent = os.environ.get("JPY_PARENT_PID")  # set by jupyter_client in every kernel it starts
    if not parent:
        return None
    for server in list_running_servers():
        if str(server.get("pid")) != parent:
            continue
        root = Path(server.get("root_dir") or server.get("notebook_dir") or "/").expanduser().resolve()
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            return None
        return f"{server.get('base_url', '/').rstrip('/')}/files/{quote(relative.as_posix())}"
    return None


def report_link_html(name: str, path: Path) -> str:
    href = served_url(path) or path.as_uri()
    return (
        f'<a href="{html.escape(href)}" target="_blank" rel="noopener">open the report on'
        f" {html.escape(name)}</a> &nbsp; <code>{html.escape(str(path))}</code>"
    )


class LibraryPanel(widgets.VBox):
    """The Library tab: list, inspect, tag, delete models and build their report pages."""

    def __init__(self, context: StudioContext) -> None:
        self.context = context
        self.status = Status("library")
        self.last_report: Path | None = None  # the report page written last (see ``open_report``)
        self._pending_delete: str | None = None  # the model a confirm click deletes
        self._report_thread: threading.Thread | None = None
        self._entries: list = []  # the ModelEntry rows listed last, and their table cells
        self._cells: list[dict[str, str]] = []
        self._listing = False  # the selector's options are being replaced: not a person's choice

        self.selector = named(widgets.Dropdown(description="model", options=()), "library-model")
        self.refresh_button = named(widgets.Button(description="refresh", icon="refresh"), "library-refresh")
        self.table = named(widgets.HTML(), "library-table")
        self.info_button = named(widgets.Button(description="info"), "library-info")
        self.report_button = named(widgets.Button(description="open report"), "library-report")
        self.delete_button = named(
            widgets.Button(description="delete", button_style="danger"), "library-delete"
        )
        self.confirm_text = widgets.HTML()
        self.confirm_button = named(
            widgets.Button(description="confirm", button_style="danger"), "library-confirm"
        )
        self.cancel_button = named(widgets.Button(description="cancel"), "library-cancel")
        self.confirm_row = widgets.HBox(
            [self.confirm_text, self.confirm_button, self.cancel_button],
            layout=widgets.Layout(display="none"),
        )
        self.tag_text = named(widgets.Text(placeholder="tags, separated by commas"), "library-tag-text")
        self.tag_add = named(widgets.Button(description="add tags"), "library-tag-add")
        self.tag_remove = named(widgets.Button(description="remove tags"), "library-tag-remove")
        self.report_link = named(widgets.HTML(), "library-report-link")
        self.info_box = named(widgets.HTML(), "library-info-box")

        self.selector.observe(self._chosen_changed, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.info_button.on_click(lambda _: self.info())
        self.report_button.on_click(lambda _: self.open_report())
        self.delete_button.on_click(lambda _: self.delete())
        self.confirm_button.on_click(lambda _: self.confirm_delete())
        self.cancel_button.on_click(lambda _: self.cancel_delete())
        self.tag_add.on_click(lambda _: self.add_tags(self.tag_text.value))
        self.tag_remove.on_click(lambda _: self.remove_tags(self.tag_text.value))
        super().__init__(
            children=[
                widgets.HBox([self.selector, self.refresh_button]),
                self.table,
                widgets.HBox([self.info_button, self.report_button, self.delete_button]),
                self.confirm_row,
                widgets.HBox([self.tag_text, self.tag_add, self.tag_remove]),
                self.report_link,
                self.info_box,
                self.status,
            ]
        )
        context.library_listeners.append(self.refresh)
        self.refresh()

    # --- listing and choosing -----------------------------------------------------------------------

    @_guarded
    def refresh(self) -> None:
        """List the library again (every panel's change to it calls this, via ``library_changed``)."""
        try:
            entries = self.context.library.list()
        except UserError:
            self._show([])  # the index cannot be read: an empty list rather than a stale one
            raise
        self._show(entries)

    @_guarded
    def select(self, name: str) -> None:
        """Choose the model ``name`` (any case), or the one with that id or id prefix."""
        entry = self.context.library.get(name)
        if entry.name not in self.selector.options:
            self.refresh()  # added since the last listing
        self.selector.value = entry.name

    @property
    def model(self) -> str | None:
        """The chosen model's name (None in an empty library)."""
        return self.selector.value

    # --- actions on the chosen model ----------------------------------------------------------------

    @_guarded
    def info(self) -> None:
        """Show what ``distill models info`` prints for the chosen model."""
        name, path = self._chosen_file()
        self.info_box.value = info_html(path, verify_model_file(path))
        self.status.say(f"{name}: what `distill models info {name}` prints.")

    @_guarded
    def add_tags(self, text: str) -> None:
        """Add the comma-separated tags in ``text`` to the chosen model."""
        self._retag(text, add=True)

    @_guarded
    def remove_tags(self, text: str) -> None:
        """Remove the comma-separated tags in ``text`` from the chosen model."""
        self._retag(text, add=False)

    @_guarded
    def delete(self) -> None:
        """Ask before deleting the chosen model: only ``confirm_delete`` deletes it."""
        name = self._chosen()
        self._pending_delete = name
        self.confirm_text.value = f"Delete <b>{html.escape(name)}</b> for good?"
        self.confirm_row.layout.display = "flex"
        self.status.say(f"Confirm to delete {name} and its file, or cancel.")

    @_guarded
    def confirm_delete(self) -> None:
        """Delete the model ``delete`` asked about."""
        name = self._pending_delete
        if name is None:
            raise UserError("Nothing to confirm: choose a model and click delete first.")
        self._hide_confirmation()
        self.context.library.delete(name)
        self.status.say(f"Deleted {name}.")
        self.context.library_changed()

    @_guarded
    def cancel_delete(self) -> None:
        name = self._pending_delete
        self._hide_confirmation()
        if name is not None:
            self.status.say(f"Kept {name}.")

    @_guarded
    def open_report(self, wait: bool = False) -> Path | None:
        """Write ``distill report``'s page on the chosen model to ``<workspace>/reports/<name>.html``
        in a background thread (it generates sounds: seconds), then link it. ``wait``: return
        when it is written, with its path (None when it failed: the status says why)."""
        if self._report_thread is not None and self._report_thread.is_alive():
            raise UserError("A report page is being written already; wait for it to finish.")
        name, path = self._chosen_file()
        target = self.context.reports / f"{name}.html"
        self.last_report = None
        self.report_link.value = ""
        self.report_button.disabled = True
        self.status.say(f"Writing the report page on {name} (it generates sounds: a few seconds)...")
        worker = guarded(self.context, self.status, self._write_report)
        self._report_thread = threading.Thread(
            target=worker, args=(name, path, target), name=f"distill-report-{name}", daemon=True
        )
        self._report_thread.start()
        if not wait:
            return None
        self._report_thread.join()
        return self.last_report

    # --- internals ------------------------------------------------------------------------------------

    def _show(self, entries) -> None:
        before = {entry.name: entry for entry in self._entries}
        self._entries = list(entries)
        # Each file's manifest is read once a listing (the quality), not each time the bold row moves.
        self._cells = [{**entry_cells(entry), "quality": _quality(entry.path)} for entry in self._entries]
        names = tuple(entry.name for entry in self._entries)
        previous = self.selector.value
        self._listing = True
        try:
            kept = relist(self.selector, names)
        finally:
            self._listing = False
        if kept != previous:
            self._forget_shown()
        elif kept is not None and before.get(kept) != self._entries[names.index(kept)]:
            self.info_box.value = ""  # its tags (or file) changed: the facts shown are old
        if self._pending_delete not in names:
            self._hide_confirmation()
        self.table.value = self._table_html()

    def _table_html(self) -> str:
        if not self._entries:
            return (
                f"No models in the library at <code>{html.escape(str(self.context.library_root))}</code>"
                " yet; train one on the Train tab (or make one with <code>distill package</code>)."
            )
        head = "".join(f'<th style="{CELL_STYLE}">{column}</th>' for column in COLUMNS)
        rows = []
        for entry, cells in zip(self._entries, self._cells, strict=True):
            chosen = ' style="font-weight: bold"' if entry.name == self.selector.value else ""
            row = "".join(f'<td style="{CELL_STYLE}">{html.escape(cells[column])}</td>' for column in COLUMNS)
            rows.append(f"<tr{chosen}>{row}</tr>")
        return f'<table style="{TABLE_STYLE}"><tr>{head}</tr>{"".join(rows)}</table>'

    def _chosen_changed(self, change) -> None:
        if self._listing or change["new"] == change["old"]:
            return
        self._forget_shown()
        self.table.value = self._table_html()  # the chosen row in bold

    def _forget_shown(self) -> None:
        """What was shown, and a pending delete, were about the model chosen before."""
        self._hide_confirmation()
        self.info_box.value = ""
        self.report_link.value = ""

    def _chosen(self) -> str:
        if self.selector.value is None:
            raise UserError(
                f"The library at {self.context.library_root} has no models yet; train one on the Train tab."
            )
        return self.selector.value

    def _chosen_file(self) -> tuple[str, Path]:
        name = self._chosen()
        try:
            return name, self.context.library.resolve(name)
        except UnknownModelError:
            self.refresh()  # deleted behind the panel's back (another panel, process or the CLI)
            raise

    def _retag(self, text: str, *, add: bool) -> None:
        name, tags = self._chosen(), parse_tags(text)
        library = self.context.library
        entry = library.tag(name, tags) if add else library.untag(name, tags)
        self.tag_text.value = ""
        self.status.say(f"{entry.name}: tags {', '.join(entry.tags) or NONE}")
        self.context.library_changed()

    def _hide_confirmation(self) -> None:
        self._pending_delete = None
        self.confirm_row.layout.display = "none"

    def _write_report(self, name: str, path: Path, target: Path) -> None:
        # Late imports: torch and the report's figures load only when a page is asked for.
        from distill.files import check_writable
        from distill.model import DistillModel
        from distill.report.build import model_report
        from distill.report.page import write_page

        try:
            check_writable(target)  # a reports/ folder it may not write is told before the sounds are made
            data = model_report(
                DistillModel.load(path),
                source=name,
                sounds=REPORT_SOUNDS,
                seed=REPORT_SEED,
                max_seconds=REPORT_SECONDS,
            )
            written = write_page(data, target)  # atomic_write: it makes the missing folders
        finally:
            self.report_button.disabled = False
        self.last_report = written
        self.report_link.value = report_link_html(name, written)
        self.status.say(f"Wrote the report page on {name} ({written.stat().st_size / 1e6:.1f} MB).")


def _quality(path: Path) -> str:
    """The table's quality cell, from the model file's recorded evaluation."""
    try:
        return generation_quality_text(read_manifest(path).metadata.get("evaluation"))
    except (UserError, OSError):
        return f"{NONE} (file unreadable)"
