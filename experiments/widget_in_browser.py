"""Render the code-grid editor widget's front end in a real headless browser and screenshot it.

Builds a ``CodeEditorWidget`` on MODEL and a sound, writes a page that runs ``widget.js`` against a
stand-in for the notebook's widget model (the widget's synced state; ``send`` is recorded in the
page title), drags the mouse over the grid to select a region, and screenshots the page with
headless Chromium (Debian's ``chromium`` package):

    .venv/bin/python experiments/widget_in_browser.py MODEL SOUND [--library DIR] [--out widget.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><title>distill widget</title><style>{css}</style></head>
<body style="margin: 12px"><div id="root"></div>
<script type="module">
{module}
const state = {state};
const listeners = {{}};
const model = {{
  get: (key) => state[key],
  set: (key, value) => {{ state[key] = value; (listeners["change:" + key] || []).forEach((f) => f()); }},
  on: (event, callback) => {{ (listeners[event] ||= []).push(callback); }},
  save_changes: () => {{ document.title = "selection " + JSON.stringify(state.selection); }},
  send: (message) => {{ document.title = "sent " + JSON.stringify(message); }},
}};
render({{ model, el: document.getElementById("root") }});
// A mouse drag across columns {first}..{last} of level 0, rows 2..5.
const canvas = document.querySelector("canvas");
const box = canvas.getBoundingClientRect();
const point = (column, row) => ({{
  clientX: box.left + (column + 0.5) * 14 * box.width / canvas.width,
  clientY: box.top + ({rows} - 1 - row + 0.5) * 8 * box.height / canvas.height,
}});
canvas.dispatchEvent(new MouseEvent("mousedown", point({first}, 2)));
canvas.dispatchEvent(new MouseEvent("mouseup", point({last}, 5)));
</script></body></html>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("sound", type=Path)
    parser.add_argument("--library", default=None)
    parser.add_argument("--out", type=Path, default=Path("widget.png"))
    args = parser.parse_args()

    from distill import DistillModel
    from distill.codes.editor import CodeEditor
    from distill.codes.widget import CodeEditorWidget

    model = DistillModel.load(args.model, library=args.library)
    widget = CodeEditorWidget(CodeEditor(model, model.encode(args.sound)), title=args.sound.name)
    first = widget.shape[2] // 3
    widget.select(first, first + 3)
    widget.apply("infill", seed=1)  # so both players hold audio and undo is live
    state = {key: value for key, value in widget.get_state().items() if not key.startswith("_")}
    module = Path(widget._esm).read_text() if isinstance(widget._esm, Path) else widget._esm
    module = module.replace("export default { render };", "")
    page = HARNESS.format(
        css=widget._css,
        module=module,
        state=json.dumps(state),
        first=first,
        last=first + 4,
        rows=widget.shape[1],
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium here: apt-get install chromium")
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "widget.html"
        html.write_text(page)
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--screenshot={args.out.resolve()}",
                "--window-size=1100,760",
                f"file://{html}",
            ],
            check=True,
            capture_output=True,
        )
        dumped = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"file://{html}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    title = dumped.split("<title>")[1].split("</title>")[0] if "<title>" in dumped else "?"
    print(f"wrote {args.out}; page title after the drag: {title}")


if __name__ == "__main__":
    main()
