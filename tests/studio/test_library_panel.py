"""The studio's Library panel, driven through its methods (no browser): the listing, the info box
(the text of `distill models info`), tags, delete only after a confirmation, the report page, and
every failure as one line on the status."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from tiny_library import tiny_library, tiny_model_file
from typer.testing import CliRunner

from distill.bundle.catalog import ModelLibrary
from distill.bundle.format import copy_model_file, read_manifest
from distill.studio import library_panel
from distill.studio.common import StudioContext
from distill.studio.library_panel import LibraryPanel, served_url


def _score(kad: float) -> dict:
    return {"kad": kad, "kad_low": kad - 1, "kad_high": kad + 1, "one_nn_accuracy": 0.8125, "n": 8}


# What `distill evaluate` records in a model file (its shape: tests/report/test_tables.py).
EVALUATION = {
    "mode": "one-shot",
    "count": 8,
    "distance": {"held-out": 20.0, "via codes": 22.0, "generated": 30.0, "noise": 600.0},
    "frames": {},
    "shapes": {},
    "resynthesis": {"files": 3, "mel_l1": 0.3, "mstft": 1.4},
    "memorization": {"flagged": False, "generated_share_mean": 0.0, "heldout_share_mean": 0.0},
    "stages": {
        "reference": 20,
        "floor": 41.5,
        "floor_spread": 2.0,
        "stages": {"via codes": _score(80.0), "generated": _score(123.45)},
        "copies": [],
    },
}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    """Two tiny models, built once: tests change copies of this library."""
    root = tiny_library(tmp_path_factory.mktemp("library") / "lib", ("drums", "voice"))
    # "voice" carries a recorded evaluation, as `distill evaluate` leaves one in the file.
    path = root / "models" / "voice.distillgan"
    copy_model_file(path, path, metadata={**read_manifest(path).metadata, "evaluation": EVALUATION})
    ModelLibrary(root=root).repair()
    return root


@pytest.fixture
def context(packaged: Path, tmp_path: Path) -> StudioContext:
    root = shutil.copytree(packaged, tmp_path / "lib")
    return StudioContext(workspace=tmp_path / "workspace", library_root=root)


@pytest.fixture
def panel(context: StudioContext) -> LibraryPanel:
    return LibraryPanel(context)


def plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def assert_one_line_error(panel: LibraryPanel, *words: str) -> None:
    assert "ds-error" in panel.status.value, panel.status.value
    text = panel.status.text
    assert text and "\n" not in text and "Traceback" not in text, text
    for word in words:
        assert word in text, text


def names(context: StudioContext) -> list[str]:
    return [entry.name for entry in context.library.list()]


def test_the_table_lists_each_model_with_its_tier_vocoder_quality_and_tags(panel, context) -> None:
    assert panel.selector.options == ("drums", "voice")
    assert panel.model == "drums"
    table = plain(panel.table.value)
    for column in ("name", "tier", "vocoder", "quality", "tags"):
        assert column in table
    assert "not evaluated" in table  # drums
    assert "KAD 123.5 (floor 41.5), 1-NN 0.81" in table  # voice's recorded evaluation
    assert "<b>" not in panel.table.value and 'font-weight: bold">' in panel.table.value
    assert panel.refresh in context.library_listeners
    assert panel.status.text == ""


def test_a_model_added_elsewhere_appears_when_the_library_changes(panel, context, tmp_path) -> None:
    context.library.add(tiny_model_file(tmp_path / "kit.distillgan", name="kit", seed=3))
    assert "kit" not in panel.selector.options
    context.library_changed()
    assert panel.selector.options == ("drums", "kit", "voice")
    panel.select("KIT")  # a name in any case, as the library finds it
    assert panel.model == "kit"


def test_info_shows_what_the_cli_prints(panel, context) -> None:
    from distill.cli.main import app

    panel.select("voice")
    panel.info()
    shown = plain(panel.info_box.value)
    assert "Model voice" in shown and "Dataset" in shown and "Stage by stage" in shown
    printed = CliRunner().invoke(
        app,
        ["models", "info", "voice", "--library", str(context.library_root)],
        env={"COLUMNS": str(library_panel.INFO_WIDTH)},
    )
    assert printed.exit_code == 0, printed.output
    assert [line.rstrip() for line in shown.strip().splitlines()] == [
        line.rstrip() for line in printed.output.strip().splitlines()
    ]
    panel.select("drums")
    assert panel.info_box.value == ""  # the facts shown were another model's


def test_tags_are_added_and_removed_and_every_panel_hears_of_it(panel, context) -> None:
    heard = []
    context.library_listeners.append(lambda: heard.append(True))
    panel.tag_text.value = "dark, loud kick"
    panel.tag_add.click()  # the button passes the text field's value
    assert panel.status.text == "drums: tags dark, loud kick"
    assert context.library.get("drums").tags == ("dark", "loud kick")
    assert panel.tag_text.value == ""
    assert "dark, loud kick" in plain(panel.table.value)
    panel.remove_tags("loud kick")
    assert context.library.get("drums").tags == ("dark",)
    assert panel.status.text == "drums: tags dark"
    assert heard == [True, True]


@pytest.mark.parametrize(
    ("text", "words"),
    [(" , ", ("Type one or more tags",)), ("bad\ttag", ("cannot be a tag", "printable"))],
)
def test_a_bad_tag_is_one_line(panel, context, text, words) -> None:
    panel.add_tags(text)
    assert_one_line_error(panel, *words)
    assert context.library.get("drums").tags == ()


def test_delete_asks_first_and_only_confirm_deletes(panel, context) -> None:
    panel.delete()
    assert panel.confirm_row.layout.display == "flex"
    assert plain(panel.confirm_text.value) == "Delete drums for good?"
    assert names(context) == ["drums", "voice"]
    panel.confirm_button.click()
    assert names(context) == ["voice"]
    assert not (context.library_root / "models" / "drums.distillgan").exists()
    assert panel.status.text == "Deleted drums."
    assert panel.confirm_row.layout.display == "none"
    assert panel.selector.options == ("voice",) and panel.model == "voice"


def test_cancel_keeps_the_model_and_leaves_nothing_to_confirm(panel, context) -> None:
    panel.delete_button.click()
    panel.cancel_button.click()
    assert panel.confirm_row.layout.display == "none"
    assert panel.status.text == "Kept drums."
    panel.confirm_delete()
    assert_one_line_error(panel, "Nothing to confirm")
    assert names(context) == ["drums", "voice"]


def test_choosing_another_model_withdraws_the_question(panel, context) -> None:
    panel.delete()  # asks about drums
    panel.select("voice")
    assert panel.confirm_row.layout.display == "none"
    panel.confirm_delete()  # must not delete drums, nor voice
    assert_one_line_error(panel, "Nothing to confirm")
    assert names(context) == ["drums", "voice"]


def test_a_model_deleted_behind_the_panels_back_is_one_line(panel, context) -> None:
    ModelLibrary(root=context.library_root).delete("drums")
    panel.info()
    assert_one_line_error(panel, "drums")
    assert panel.selector.options == ("voice",)  # listed again on finding it gone


def test_an_empty_library_says_so(tmp_path) -> None:
    context = StudioContext(workspace=tmp_path / "workspace", library_root=tmp_path / "empty")
    panel = LibraryPanel(context)
    assert "No models in the library" in plain(panel.table.value)
    assert panel.selector.options == () and panel.model is None
    for action in (panel.info, panel.delete, lambda: panel.add_tags("x"), panel.open_report):
        action()
        assert_one_line_error(panel, "has no models yet")


def test_a_damaged_index_is_one_line_and_lists_nothing(context) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{context.library_root / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)
    (context.library_root / "catalog.sqlite").write_bytes(b"not a database" * 100)
    panel = LibraryPanel(context)
    assert_one_line_error(panel, "damaged", "distill models repair")
    assert panel.selector.options == ()


def test_a_bug_is_one_line_and_its_traceback_goes_to_the_log(panel, context, monkeypatch) -> None:
    def broken(path, manifest):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(library_panel, "info_html", broken)
    panel.info_button.click()
    assert_one_line_error(panel, "RuntimeError: a bug", "log")
    assert "Traceback" in (context.workspace / "studio.log").read_text()


@pytest.fixture
def quick_report(monkeypatch) -> None:
    # One short sound is enough to prove the page is written; `distill report` makes three of 4 s.
    monkeypatch.setattr(library_panel, "REPORT_SOUNDS", 1)
    monkeypatch.setattr(library_panel, "REPORT_SECONDS", 1.0)


def test_the_report_page_is_written_in_the_background_and_linked(panel, context, quick_report) -> None:
    assert panel.open_report() is None  # returns at once; the thread writes the page
    assert panel.report_button.disabled
    panel._report_thread.join(timeout=120)
    target = context.reports / "drums.html"
    assert panel.last_report == target and target.stat().st_size > 10_000
    assert "<html" in target.read_text()[:500].lower()
    assert not panel.report_button.disabled
    assert panel.status.text.startswith("Wrote the report page on drums")
    assert target.as_uri() in panel.report_link.value  # outside Jupyter: a file link
    assert panel.open_report(wait=True) == target  # written again, waited for


def test_a_report_that_fails_in_its_thread_is_one_line(panel, context, quick_report) -> None:
    (context.library_root / "models" / "drums.distillgan").write_bytes(b"garbage")
    assert panel.open_report(wait=True) is None
    assert_one_line_error(panel, "drums.distillgan")
    assert panel.last_report is None and panel.report_link.value == ""
    assert not panel.report_button.disabled


def test_a_report_is_linked_through_the_jupyter_server_that_started_the_kernel(tmp_path, monkeypatch) -> None:
    import jupyter_server.serverapp

    servers = [
        {"pid": 11, "root_dir": str(tmp_path / "elsewhere"), "base_url": "/"},
        {"pid": 12, "root_dir": str(tmp_path), "base_url": "/user/me/"},
    ]
    monkeypatch.setattr(jupyter_server.serverapp, "list_running_servers", lambda: iter(servers))
    monkeypatch.setenv("JPY_PARENT_PID", "12")
    page = tmp_path / "work space" / "reports" / "drums.html"
    assert served_url(page) == "/user/me/files/work%20space/reports/drums.html"
    assert served_url(Path("/somewhere/else.html")) is None  # outside the server's folder
    monkeypatch.delenv("JPY_PARENT_PID")
    assert served_url(page) is None  # not in a Jupyter kernel
