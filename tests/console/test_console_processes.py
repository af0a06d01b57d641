"""``serve --api-processes 2`` without ``NOTIFIER_CONSOLE_SECRET``: a console login made on
one API process holds on the other, and a form from one is accepted by the other.

Both processes answer on one listening socket and the kernel hands each connection to
either, so a user's requests land on both. Real processes, real HTTP on 127.0.0.1; each
request goes over a TCP connection of its own whose process is known (its ``/healthz``,
asked first on the same connection, says whether it runs the worker: only ``serve`` does).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from notifier.console.session import COOKIE, ENV_SECRET
from tests.console.helpers import ADMIN, console_config, csrf_of
from tests.sink import Sink, free_port

SERVE, OTHER = "serve", "its second API process"


class Connection:
    """One TCP connection to the shared port: every request on it reaches the same process."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.http.connect()
        # Never reconnect behind our back: a new connection may reach the other process.
        self.http.auto_open = 0
        health = json.loads(self.request("GET", "/healthz")[2])
        self.process = SERVE if health["worker"]["in_this_process"] else OTHER

    def request(self, method: str, path: str, cookies: dict[str, str] | None = None,
                form: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, str]:
        headers = {"Accept-Language": "en"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.http.request(method, path, body=body, headers=headers)
        r = self.http.getresponse()
        return r.status, r, r.read().decode()

    def close(self) -> None:
        self.http.close()


def connect_to(port: int, process: str, deadline: float) -> Connection:
    """A fresh connection that the kernel gave to ``process``."""
    while True:
        conn = Connection(port)
        if conn.process == process:
            return conn
        conn.close()
        assert time.monotonic() < deadline, f"no connection reached {process}"


def session_cookie(response: http.client.HTTPResponse) -> str:
    for header in response.headers.get_all("set-cookie") or []:
        name, _, rest = header.partition("=")
        if name == COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {COOKIE} cookie set: {response.headers}")


@pytest.fixture
def serve(tmp_path: Path, sink: Sink) -> Iterator[tuple[int, int]]:
    """``notifier serve --api-processes 2`` with no console secret in its environment: its
    port and pid, once both API processes answer."""
    config = tmp_path / "channels.yaml"
    config.write_text(console_config(sink.url), encoding="utf-8")
    port, log = free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != ENV_SECRET}
    with log.open("wb") as out:
        # --workers 1: no worker process beside serve, which this test does not need.
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--api-processes", "2", "--workers", "1",
             "--config", str(config), "--db", f"sqlite:///{tmp_path / 'notifier.db'}",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # until each process has answered once (the second one starts later)
            seen = set()
            with contextlib.suppress(OSError, http.client.HTTPException):
                for _ in range(8):
                    conn = Connection(port)
                    seen.add(conn.process)
                    conn.close()
            if seen == {SERVE, OTHER}:
                break
            assert proc.poll() is None, f"serve exited: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"both processes never answered: {log.read_text(errors='replace')}"
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_console_login_holds_on_every_api_process_without_a_configured_secret(serve: tuple[int, int]) -> None:
    port, pid = serve
    deadline = time.monotonic() + 30
    # The login form comes from one process and is posted to the other: its CSRF token and
    # its anonymous session cookie must be accepted there.
    form_conn = connect_to(port, SERVE, deadline)
    _, r, page = form_conn.request("GET", "/console/login")
    anonymous = session_cookie(r)
    form_conn.close()
    post_conn = connect_to(port, OTHER, deadline)
    status, r, text = post_conn.request("POST", "/console/login", cookies={COOKIE: anonymous},
                                        form={"csrf": csrf_of(page), "token": ADMIN, "next": "/console/"})
    post_conn.close()
    assert (status, r.headers.get("location")) == (303, "/console/"), f"login refused ({status}): {text[:300]}"
    cookie = session_cookie(r)

    # Then the user browses on: each page over a fresh connection, to whichever process the
    # kernel picks, until both have answered a few times (40 pages at least).
    answered: Counter[str] = Counter()
    while answered.total() < 40 or min(answered[SERVE], answered[OTHER]) < 5:
        assert time.monotonic() < deadline, f"the kernel kept to one process: {answered}"
        conn = Connection(port)
        status, r, text = conn.request("GET", "/console/", cookies={COOKIE: cookie})
        conn.close()
        assert status == 200, f"{conn.process} sent the user to {r.headers.get('location')} ({status})"
        assert "marie" in text and 'action="/console/logout"' in text  # the queue, logged in as marie
        answered[conn.process] += 1

    # The shared key reached the second process by its environment, never on a command line
    # (which `ps` shows every user of the machine).
    (child,) = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    environ = dict(line.partition(b"=")[::2] for line in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"))
    key = environ[ENV_SECRET.encode()]
    assert len(key) >= 32
    assert all(key not in Path(f"/proc/{p}/cmdline").read_bytes() for p in (pid, child))
