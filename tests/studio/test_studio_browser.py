"""The studio in a real browser: Jupyter Notebook 7 serving notebooks/00-studio.ipynb, headless
Chromium running its cell and doing the whole job through the page, as a person would: scan a
folder, train (the bar moves), cancel, resume, package, generate 4 sounds (their players load
audio), keep one (file and sidecar on disk), delete the model after confirming; no console errors.

Screenshots of each panel go to ``$DISTILL_STUDIO_SCREENSHOTS`` when set (for a person to look at).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, make_sound_folder
from jupyter_browser import (
    chromium_driver,
    click,
    console_errors,
    jupyter_server,
    open_notebook,
    run_all_cells,
    screenshot,
    set_text,
    wait_for,
    wait_until_text,
)
from studio_fixtures import tiny_overrides

pytestmark = pytest.mark.slow

NOTEBOOK = "00-studio.ipynb"


def _tab(driver, title: str) -> None:
    from selenium.webdriver.common.by import By

    tab = driver.find_element(By.XPATH, f"//*[contains(@class, 'ds-tabs')]//li[.//text()='{title}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", tab)
    tab.click()  # a real pointer click: Lumino's tab bar switches on pointer events, not click()


def _tick(driver, css: str) -> None:
    box = wait_for(driver, f"{css} input")
    driver.execute_script("arguments[0].click();", box)


def _players(driver, css: str = ".ds-generate-player") -> list[dict]:
    """Each player of class ``css`` as the page has it: loaded (metadata read), how long it plays."""
    return driver.execute_script(
        """return [...document.querySelectorAll(`${arguments[0]} audio, audio${arguments[0]}`)]
                 .map(a => ({ready: a.readyState, duration: a.duration, error: a.error && a.error.code}));""",
        css,
    )


def _shoot(driver, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("DISTILL_STUDIO_SCREENSHOTS", tmp_path / "screenshots"))
    screenshot(driver, folder / f"{name}.png")


def test_the_whole_job_through_the_page(tmp_path: Path) -> None:
    root = tmp_path / "server"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    sounds = make_sound_folder(root / "kit", 6, seconds=1.0)
    library = tmp_path / "library"
    env = {
        **os.environ,
        "DISTILL_HOME": str(library),
        "DISTILL_CACHE_DIR": str(tmp_path / "cache"),
        "DISTILL_LOG_DIR": str(tmp_path / "logs"),
        "WANDB_MODE": "offline",
    }
    with jupyter_server(root, env) as (base_url, token), chromium_driver() as driver:
        try:
            _whole_job(driver, base_url, token, root, sounds, library, tmp_path)
        except Exception:
            _shoot(driver, "failure", tmp_path)  # what the page showed when it went wrong
            raise


def _whole_job(
    driver, base_url: str, token: str, root: Path, sounds: Path, library: Path, tmp_path: Path
) -> None:
    open_notebook(driver, base_url, token, NOTEBOOK)
    run_all_cells(driver)
    wait_for(driver, ".ds-studio", 60)

    # A folder that is not there: one line on the panel, no traceback anywhere on the page.
    set_text(driver, ".ds-train-folder", str(sounds / "missing"))
    click(driver, ".ds-train-scan")
    wait_until_text(driver, ".ds-train-status", lambda text: "does not exist" in text, 60)
    assert "Traceback" not in driver.find_element("css selector", ".jp-Notebook").text

    # Train: scan, then the three tiny models, 9 s each.
    set_text(driver, ".ds-train-folder", str(sounds))
    click(driver, ".ds-train-scan")
    wait_until_text(driver, ".ds-train-status", lambda text: "6 usable recordings" in text, 120)
    assert "hit_000.wav" in wait_for(driver, ".ds-train-scan-report").text
    click(
        driver,
        ".ds-train-advanced .jupyter-widget-Collapse-header, .ds-train-advanced .lm-AccordionPanel-title, .ds-train-advanced .p-Collapse-header",
    )
    for stage, text in tiny_overrides(tmp_path / "cache").items():
        set_text(driver, f".ds-train-overrides-{stage}", text)
        set_text(driver, f".ds-train-budget-{stage}", "0.15")
    _tick(driver, ".ds-train-stage-package")  # packaged with the button, below
    _shoot(driver, "train-scanned", tmp_path)
    click(driver, ".ds-train-start")
    first = wait_until_text(driver, ".ds-train-progress-text", lambda text: "vocoder · step" in text, 120)
    later = wait_until_text(
        driver, ".ds-train-progress-text", lambda text: text != first and "vocoder · step" in text, 60
    )
    assert _percent(later) >= _percent(first)
    _shoot(driver, "train-running", tmp_path)
    click(driver, ".ds-train-cancel")
    wait_until_text(driver, ".ds-train-progress-text", lambda text: "cancelled" in text, 60)
    click(driver, ".ds-train-resume")
    wait_until_text(driver, ".ds-train-progress-text", lambda text: "· done" in text, 300)
    _shoot(driver, "train-done", tmp_path)
    (preview,) = _wait_players(driver, 1, ".ds-train-preview")  # the newest preview a run wrote
    assert preview["ready"] >= 1 and preview["duration"] > 0
    click(driver, ".ds-train-package")
    wait_until_text(driver, ".ds-train-status", lambda text: "added kit to the library" in text, 120)
    assert (library / "models" / "kit.distillgan").is_file()

    # Generate: 4 sounds, each a player that loads; keep one.
    _tab(driver, "Generate")
    wait_until_text(driver, ".ds-generate-vocoder-info", lambda text: "auto would use" in text, 60)
    set_text(driver, ".ds-generate-count", "4")
    click(driver, ".ds-generate-go")
    wait_until_text(driver, ".ds-generate-status", lambda text: text.startswith("4 sounds from kit"), 240)
    players = _wait_players(driver, 4)
    assert all(player["ready"] >= 1 and player["duration"] > 0 and not player["error"] for player in players)
    _shoot(driver, "generate", tmp_path)
    click(driver, ".ds-generate-keep")
    status = wait_until_text(driver, ".ds-generate-status", lambda text: text.startswith("kept "), 60)
    kept = sorted((root / "distill-studio" / "kept").glob("*.wav"))
    assert len(kept) == 1 and str(kept[0]) in status
    assert json.loads(Path(f"{kept[0]}.json").read_text())["metadata"]["model"]["name"] == "kit"

    # Edit: the first result's code grid in the editor.
    click(driver, ".ds-generate-edit")
    wait_until_text(driver, ".ds-edit-status", lambda text: text.startswith("editing kit seed 0"), 60)
    wait_for(driver, ".ds-edit-editor canvas, .ds-edit-editor img", 60)
    _shoot(driver, "edit", tmp_path)

    # Library: delete the model, after confirming.
    _tab(driver, "Library")
    click(driver, ".ds-library-refresh")
    wait_until_text(driver, ".ds-library-table", lambda text: "kit" in text, 60)
    _shoot(driver, "library", tmp_path)
    click(driver, ".ds-library-delete")
    wait_for(driver, ".ds-library-confirm")
    assert (library / "models" / "kit.distillgan").is_file()  # asked, not yet deleted
    click(driver, ".ds-library-confirm")
    wait_until_text(driver, ".ds-library-status", lambda text: "deleted" in text.lower(), 60)
    assert not (library / "models" / "kit.distillgan").exists()

    assert "Traceback" not in driver.find_element("css selector", ".jp-Notebook").text
    assert console_errors(driver) == []


def _percent(text: str) -> int:
    return int(next(part for part in text.split(" · ") if part.endswith("%")).rstrip("%"))


def _wait_players(driver, count: int, css: str = ".ds-generate-player", timeout: float = 60.0) -> list[dict]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        players = _players(driver, css)
        if len(players) == count and all(player["ready"] >= 1 for player in players):
            return players
        if time.monotonic() > deadline:
            return players
        time.sleep(0.5)
