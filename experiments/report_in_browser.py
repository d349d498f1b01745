"""Open a ``distill report`` page in headless Chromium (Debian's ``chromium`` package): print how
many images decoded and players loaded (the page's own self-check on ``<body>``), any console
errors, and write a full-page screenshot to look at.

    .venv/bin/python experiments/report_in_browser.py REPORT.html [--out report.png] [--height 4000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"]


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("no chromium here: apt-get install chromium")
    return found


def self_check(page: Path) -> tuple[dict[str, str], list[str]]:
    """The ``data-`` attributes the page's script wrote onto ``<body>``, and the console errors."""
    result = subprocess.run(
        [browser(), *FLAGS, "--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = re.search(r"<body([^>]*)>", result.stdout)
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1))) if body else {}
    errors = [line for line in result.stderr.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line]
    return attributes, errors


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 4000) -> Path:
    subprocess.run(
        [
            browser(),
            *FLAGS,
            f"--screenshot={out.resolve()}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report.png"))
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    if not args.page.is_file():
        raise SystemExit(f"{args.page}: no such page; write one with `distill report`")
    attributes, errors = self_check(args.page)
    print(
        f"images decoded {attributes.get('images-decoded', '?')}/{attributes.get('images', '?')}, "
        f"players loaded {attributes.get('audio-loaded', '?')}/{attributes.get('audio', '?')} "
        f"(failed {attributes.get('audio-failed', '?')})"
    )
    for line in errors:
        print("console:", line)
    print(f"wrote {screenshot(args.page, args.out, height=args.height)}")


if __name__ == "__main__":
    main()
