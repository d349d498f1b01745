"""The report page in a real browser (headless Chromium): it loads without console errors, every
image decodes and every player loads its sound (the page's own self-check, read from the DOM)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_fixtures import packaged_model

from distill.model import DistillModel
from distill.report.build import model_report
from distill.report.page import write_page

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (Debian package `chromium`)")
def test_the_page_loads_in_chromium_with_every_image_and_player(tmp_path: Path) -> None:
    model_path, _, _ = packaged_model(tmp_path)
    data = model_report(
        DistillModel.load(model_path), source=str(model_path), sounds=2, seed=0, max_seconds=1.0
    )
    page = write_page(data, tmp_path / "report.html")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",  # lets the players' metadata load before the DOM is dumped
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line]
    assert console == []
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body is not None, result.stdout[:500]
    found = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    # 6 training figures + 4 clips' mel/code-grid images; 2 generated + 2 x 2 held-out players.
    assert found == {
        "images": "10",
        "images-decoded": "10",
        "audio": "6",
        "audio-loaded": "6",
        "audio-failed": "0",
    }
