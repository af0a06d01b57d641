"""A real ``notifier serve`` process and a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) for the console's browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sink import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_available() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return None


def need_browser() -> None:
    """Skip without a browser, except in CI, where .ci/run installs it (then it is a failure)."""
    reason = browser_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None  # the live queue replaced the rows under us: look again
        except WebDriverException as exc:
            # The same race, when the row is replaced between finding it and reading it:
            # chromedriver then reports DevTools' "Node with given id does not belong to the
            # document" as an unknown error rather than a stale element.
            if "does not belong to the document" not in str(exc):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def serve(config: Path, db: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[Callable[[], str]]:
    """``notifier serve`` on a free loopback port, started at once; calling what this yields
    waits until ``/healthz`` answers and returns the base URL (start a browser meanwhile)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--db", f"sqlite:///{db}",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text(errors='replace')}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def ready() -> str:
        wait_until(up, "notifier serve to answer", timeout=60)
        return base

    ready.proc = proc  # type: ignore[attr-defined]  # for tests that signal the server
    try:
        yield ready
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium(lang: str = "en") -> Iterator[Any]:
    """A headless Chromium session (one per test module: starting one costs seconds)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", f"--lang={lang}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def click(driver: Any, selector: str, what: str) -> None:
    """Click the element of a CSS ``selector``, found afresh (the live queue may swap rows)."""
    from selenium.webdriver.common.by import By

    def press() -> bool:
        driver.find_element(By.CSS_SELECTOR, selector).click()
        return True

    wait_until(press, what)
