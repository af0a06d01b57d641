"""Fixtures of the scale-out tests: one real PostgreSQL, several notifier processes.

The server is started once per session (see ``tests/pgserver.py``); each test gets a fresh
database. Without PostgreSQL binaries these tests are skipped, unless
``NOTIFIER_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pgserver import PgServer
from tests.sink import free_port


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a fresh, empty database."""
    url = pg_server.create_database()
    yield url
    # The server may have been stopped by the test: nothing left to drop then.
    with contextlib.suppress(Exception):
        pg_server.drop_database(url.rsplit("/", 1)[1])


class Processes:
    """Notifier processes started by a test; every one still running is killed at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``python -m notifier.cli ARGS`` with its output in ``logs/NAME.log``."""
        out = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "notifier.cli", *args],
                                env={**os.environ, "NOTIFIER_LOG_FORMAT": "json"},
                                stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.started.append(proc)
        self.named[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    async def logged(self, name: str, text: str, timeout: float) -> None:
        """Wait until process ``name`` has logged ``text``; fail if it exits or ``timeout`` passes."""
        proc = self.named[name]
        deadline = time.monotonic() + timeout
        while text not in self.log(name):
            assert proc.poll() is None, self.log(name)
            assert time.monotonic() < deadline, f"{name} did not log {text!r}:\n{self.log(name)}"
            await asyncio.sleep(0.05)

    def worker(self, name: str, config: Path, db: str, *extra: str) -> subprocess.Popen[bytes]:
        return self.spawn(name, "worker", "--config", str(config), "--db", db, "--log-level", "warning", *extra)

    def api(self, name: str, config: Path, db: str) -> tuple[subprocess.Popen[bytes], int]:
        """An API-only process (``serve --no-worker``); returns it with its port once it answers."""
        port = free_port()
        proc = self.spawn(name, "serve", "--no-worker", "--config", str(config), "--db", db,
                          "--port", str(port), "--log-level", "warning")
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, lambda: self.log(name))
        return proc, port

    def sink(self, latency: float = 0.0) -> int:
        """A webhook sink in its own process (``python -m tests.sink``), answering each request
        after ``latency`` seconds; its port."""
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tests.sink", str(port), str(latency)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started.append(proc)
        wait_http(f"http://127.0.0.1:{port}/_stats", proc, lambda: "")
        return port

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen[bytes], output: object, timeout: float = 30) -> None:
    """Wait until ``url`` answers (fails early if ``proc`` exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise AssertionError(f"{url}: process exited ({proc.returncode}): {output()}") from None  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.05)


def sink_stats(port: int) -> list[list[object]]:
    """``[[idempotency key, time, event id], …]`` of every request the sink got."""
    return httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=30).json()  # type: ignore[no-any-return]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs)
    try:
        yield procs
    finally:
        procs.kill_all()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every scale-out test starts several processes: they are all ``slow``."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.slow)
