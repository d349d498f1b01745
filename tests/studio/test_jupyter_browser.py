"""The browser harness itself (``jupyter_browser.py``): in Jupyter Notebook 7 under headless
Chromium, ipywidgets and an anywidget render, a typed value and a click reach the kernel and the
kernel's answers reach the page, with nothing on the browser console."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from jupyter_browser import (
    chromium_driver,
    click,
    console_errors,
    jupyter_server,
    open_notebook,
    run_all_cells,
    screenshot,
    set_text,
    text_of,
    wait_until_text,
)

pytestmark = pytest.mark.slow

WIDGETS = """\
import html, os, sys
import ipywidgets as widgets

text = widgets.Text(description="say")
text.add_class("ds-demo-text")
go = widgets.Button(description="go")
go.add_class("ds-demo-go")
out = widgets.HTML("")
out.add_class("ds-demo-out")

def copy(_):
    # The kernel's environment is the server's (DISTILL_HOME came through the harness), and its
    # interpreter is the test's own.
    parts = (text.value, os.environ["DISTILL_HOME"], sys.executable)
    out.value = " | ".join(html.escape(part) for part in parts)

go.on_click(copy)
widgets.VBox([text, go, out])
"""

# The studio's code-grid editor is an anywidget: its ES module must load and talk back too.
ANYWIDGET = '''\
import anywidget, traitlets

class Counter(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const button = document.createElement("button");
      button.className = "ds-demo-any";
      const show = () => { button.textContent = `clicked ${model.get("count")}`; };
      button.onclick = () => { model.set("count", model.get("count") + 1); model.save_changes(); };
      model.on("change:count", show);
      show();
      el.appendChild(button);
    }
    export default { render };
    """
    count = traitlets.Int(0).tag(sync=True)

counter = Counter()
heard = widgets.HTML("")
heard.add_class("ds-demo-heard")
counter.observe(lambda change: setattr(heard, "value", f"kernel saw {change['new']}"), names="count")
widgets.VBox([counter, heard])
'''


def notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],  # fmt: skip
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_widgets_round_trip_through_the_kernel_in_notebook_7(tmp_path: Path) -> None:
    start = time.monotonic()
    (tmp_path / "demo.ipynb").write_text(json.dumps(notebook([WIDGETS, ANYWIDGET])))
    with (
        chromium_driver() as driver,
        jupyter_server(tmp_path, {"DISTILL_HOME": "/the/library"}) as (base_url, token),
    ):
        try:
            open_notebook(driver, base_url, token, "demo.ipynb")
            run_all_cells(driver)
            set_text(driver, ".ds-demo-text", "a <kick> & a snare")
            click(driver, ".ds-demo-go")
            shown = wait_until_text(driver, ".ds-demo-out", lambda text: "kick" in text)
            assert shown == f"a <kick> & a snare | /the/library | {sys.executable}"
            click(driver, ".ds-demo-any")
            wait_until_text(driver, ".ds-demo-heard", lambda text: text == "kernel saw 1")
            assert text_of(driver, ".ds-demo-any") == "clicked 1"
            assert console_errors(driver) == []
        except BaseException:
            screenshot(driver, tmp_path / "failure.png")
            raise
    elapsed = time.monotonic() - start
    print(f"browser round trip: {elapsed:.1f} s")
    assert elapsed < 60
