"""A real browser on a real notebook: the harness for end-to-end tests of the studio's widgets.

``jupyter_server`` starts Jupyter Notebook 7 on a free localhost port in a world of its own (its
config, data, runtime and kernelspec folders are temporary, so the user's own Jupyter setup never
leaks in), with the kernel running this interpreter. ``chromium_driver`` is headless Chromium
through Selenium (skipped where Debian's ``chromium`` and ``chromedriver`` are not installed).
The helpers find widgets by the CSS class ``ds-<name>`` that ``distill.studio.common.named``
gives them.

    with jupyter_server(tmp_path, {"DISTILL_HOME": str(library)}) as (url, token), chromium_driver() as driver:
        open_notebook(driver, url, token, "studio.ipynb")
        run_all_cells(driver)
        set_text(driver, ".ds-library-tag-text", "dark")
        click(driver, ".ds-library-tag-add")
        wait_until_text(driver, ".ds-library-status", lambda text: "dark" in text)
        assert console_errors(driver) == []
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVER_START_S = 90.0  # a cold start on two shared cores imports the whole Jupyter stack
STOP_S = 10.0

# Chromium's console messages that say nothing about the page under test (each matched against
# the message text of a SEVERE entry):
BENIGN_CONSOLE = (
    # The browser asks every site for /favicon.ico; Jupyter serves its icons elsewhere (404).
    re.compile(r"/favicon\.ico - Failed to load resource"),
    # Notebook 7's own start-up, on every page (the file tree too): it loads the settings of
    # plugins that page never activates ("... has no transformers yet", jupyter/notebook#7062), and
    # the keyboard-shortcuts plugin's handler of that failed load reads `.schema` of the missing
    # plugin (an unhandled rejection). Nothing of ours runs by then.
    re.compile(
        r"notebook_core\.\w+\.js.*Uncaught TypeError: Cannot read properties of undefined \(reading 'schema'\)"
    ),
)


# --- the server -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _api(base_url: str, token: str, path: str, method: str = "GET", timeout: float = 5.0):
    request = urllib.request.Request(
        f"{base_url}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def _isolated_jupyter(home: Path) -> dict[str, str]:
    """Jupyter's folders inside ``home``, and a ``python3`` kernelspec that runs this interpreter.

    JUPYTER_PATH comes first in the kernelspec search, so a ``python3`` of the user's (another
    Python) cannot win; the labextensions (ipywidgets' manager, anywidget) are still found in this
    environment's ``share/jupyter``.
    """
    spec = home / "path" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        )
    )
    folders = {
        "JUPYTER_PATH": home / "path",
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
        "IPYTHONDIR": home / "ipython",  # no startup scripts or profile of the user's
    }
    return {name: str(folder) for name, folder in folders.items()}


@contextlib.contextmanager
def jupyter_server(root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Jupyter Notebook 7 serving ``root``; yields ``(base_url, token)``, base_url ending in ``/``.

    ``env`` is added to the server's environment, which the server hands on to its kernels (e.g.
    ``DISTILL_HOME``). On exit the kernels and the server are stopped and none of their processes
    is left: asked politely (``/api/shutdown``), then terminated, then killed.
    """
    home = Path(tempfile.mkdtemp(prefix="distill-jupyter-"))
    port, token = _free_port(), secrets.token_hex(16)
    base_url = f"http://127.0.0.1:{port}/"
    command = [
        sys.executable,
        "-m",
        "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # another port would leave us polling the wrong one
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # window.jupyterapp: the harness reads the kernel's state as the page itself sees it.
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; Jupyter refuses that unless told
    server_env = {**os.environ, **_isolated_jupyter(home), **(env or {})}
    log = open(home / "server.log", "wb")  # noqa: SIM115 -- closed in the finally below
    process = subprocess.Popen(
        command, cwd=root, env=server_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        _wait_for_server(process, base_url, token, home / "server.log")
        yield base_url, token
    finally:
        _stop_server(process, base_url, token)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_server(process: subprocess.Popen, base_url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Jupyter exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _api(base_url, token, "api/status", timeout=2.0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise RuntimeError(f"Jupyter did not answer in {SERVER_START_S:.0f} s:\n{log.read_text()[-3000:]}")


def _stop_server(process: subprocess.Popen, base_url: str, token: str) -> None:
    # Kernels run in sessions of their own (jupyter_client starts them so), so a killed server
    # would orphan them: note every descendant first, and kill whichever outlives the shutdown.
    try:
        import psutil

        descendants = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # noqa: BLE001 -- no psutil, or the server is gone already: nothing to note
        descendants = []
    if process.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            _api(base_url, token, "api/shutdown", method="POST")  # stops the kernels, then itself
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for child in descendants:
        with contextlib.suppress(Exception):
            child.kill()
            child.wait(timeout=STOP_S)


# --- the browser ------------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium_driver() -> Iterator:
    """Headless Chromium driven by Selenium, its browser console recorded; skips without Chromium."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Chromium and chromedriver (Debian packages `chromium`, `chromium-driver`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # given, with the driver, so Selenium Manager downloads nothing
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container there is no user namespace for the sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a container's small /dev/shm crashes tabs; use /tmp
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _app_state(driver, script: str):
    """Evaluate ``script`` on the current notebook panel ``panel`` (None before the app is up)."""
    return driver.execute_script(
        "const app = window.jupyterapp; const panel = app && app.shell && app.shell.currentWidget;"
        f" if (!panel || !panel.sessionContext) return null; {script}"
    )


def kernel_status(driver) -> str | None:
    """The kernel's state as the page shows it: ``idle``, ``busy``, ``starting``, ... (None: no page)."""
    return _app_state(driver, "return panel.sessionContext.kernelDisplayStatus;")


def open_notebook(driver, base_url: str, token: str, path: str, timeout: float = 90.0) -> None:
    """Open the notebook ``path`` (relative to the server's root) and wait for its kernel to be idle.

    The notebook's metadata should name the ``python3`` kernel; a kernel chooser the page shows
    all the same is accepted with its default.
    """
    from urllib.parse import quote

    driver.get(f"{base_url}notebooks/{quote(path)}?token={token}")
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        _accept_dialog(driver)
        status = kernel_status(driver)
        if status == "idle" and driver.find_elements("css selector", ".jp-Notebook .jp-Cell"):
            return
        time.sleep(0.25)
    raise TimeoutError(f"the kernel of {path} was not idle after {timeout:.0f} s (last: {status})")


def _accept_dialog(driver) -> None:
    for button in driver.find_elements("css selector", ".jp-Dialog .jp-mod-accept"):
        with contextlib.suppress(Exception):
            button.click()


def run_all_cells(driver, timeout: float = 120.0) -> None:
    """Run every cell as a person would (Run > Run All Cells) and wait until all have run; a cell
    that fails raises, with its error output."""
    from selenium.webdriver.common.by import By

    menu = next(
        item
        for item in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
        if item.text.strip() == "Run"
    )
    menu.click()
    wait_for(driver, '.lm-Menu-item[data-command="runmenu:run-all"]', 10).click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errors = driver.find_elements(By.CSS_SELECTOR, '[data-mime-type="application/vnd.jupyter.error"]')
        if errors:
            raise AssertionError(f"a cell failed:\n{errors[0].text}")
        prompts = [p.text for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]
        if (
            prompts
            and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts)
            and kernel_status(driver) == "idle"
        ):
            return
        time.sleep(0.25)
    raise TimeoutError(f"the cells had not all run after {timeout:.0f} s")


# --- widgets by CSS ----------------------------------------------------------------------------------


def wait_for(driver, css: str, timeout: float = 30.0):
    """The first visible element matching ``css``, once there is one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)),
        message=f"nothing visible matches {css!r} after {timeout:.0f} s",
    )


def set_text(driver, css: str, text: str, timeout: float = 30.0) -> None:
    """Type ``text`` into the Text/Textarea/IntText/FloatText widget with class ``css``.

    Its whole value is selected and typed over (key events, as a person types), then the field
    loses focus: a number field (and a Text without continuous updates) tells the kernel on that
    change event only.
    """
    from selenium.webdriver.common.keys import Keys

    wait_for(driver, css, timeout)
    field = wait_for(driver, f"{css} input, {css} textarea", timeout)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text if text else Keys.BACKSPACE)
    driver.execute_script("arguments[0].blur();", field)


def click(driver, css: str, timeout: float = 30.0) -> None:
    """Click the widget with class ``css`` (a Button is itself the ``button``; else the first one in it)."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element = wait_for(driver, css, timeout)
    if element.tag_name != "button":
        element = wait_for(driver, f"{css} button", timeout)
    WebDriverWait(driver, timeout).until(expected_conditions.element_to_be_clickable(element))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        # A notification toast may lie over the button for a moment: the click is still meant for it.
        driver.execute_script("arguments[0].click();", element)


def text_of(driver, css: str, timeout: float = 30.0) -> str:
    """The visible text of the element matching ``css``."""
    return wait_for(driver, css, timeout).text


def wait_until_text(driver, css: str, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
    """The text of ``css`` once ``predicate`` holds for it (an AssertionError with the last text else)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException

    deadline = time.monotonic() + timeout
    text = None
    while time.monotonic() < deadline:
        try:
            text = text_of(driver, css, max(0.1, deadline - time.monotonic()))
        except (StaleElementReferenceException, TimeoutException):  # re-rendered, or not there yet
            text = None
        if text is not None and predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{css!r} never read as expected in {timeout:.0f} s; last text: {text!r}")


def console_errors(driver) -> list[str]:
    """The SEVERE browser-console messages logged since the previous call (Chromium hands each
    entry out once), less those in ``BENIGN_CONSOLE``."""
    messages = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return [message for message in messages if not any(p.search(message) for p in BENIGN_CONSOLE)]


def screenshot(driver, path: Path) -> Path:
    """The browser window as a PNG at ``path`` (for a failing test's evidence)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
