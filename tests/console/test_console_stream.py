"""The live queue's stream against a real ``notifier serve``: it sends new rows, and a stop
is not held up by an open console tab."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from notifier.console.queue import STREAM_SECONDS
from tests.console.browser import serve
from tests.console.helpers import ADMIN, READER, console_config, request_event
from tests.sink import Sink

pytestmark = pytest.mark.slow


def test_the_stream_sends_a_new_case_and_ends_when_the_server_stops(tmp_path: Path, sink: Sink) -> None:
    config = tmp_path / "channels.yaml"
    config.write_text(console_config(sink.url), encoding="utf-8")
    with serve(config, tmp_path / "notifier.db", tmp_path / "serve.log") as ready:
        base = ready()
        with httpx.Client(base_url=base, timeout=30) as client:
            page = client.get("/console/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            client.post("/console/login", data={"csrf": csrf.group(1), "token": READER, "next": "/console/"})
            queue = client.get("/console/")
            version = re.search(r"v=([0-9.-]+)", queue.text)
            assert version
            with client.stream("GET", f"/console/queue/stream?status=active&page=1&v={version.group(1)}") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                posted = httpx.post(f"{base}/v1/events", json=request_event(site="stream.example"),
                                    headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
                case_id = posted.json()["case"]["id"]
                seen = ""
                lines = stream.iter_lines()
                deadline = time.monotonic() + 20
                while f"case-{case_id}" not in seen or not seen.endswith("\n\n"):  # the whole event
                    assert time.monotonic() < deadline, "the new case never came down the stream"
                    seen += next(lines) + "\n"
                assert "event: queue" in seen and "stream.example" in seen
                # SIGTERM with the stream open: the server ends the stream and exits long before
                # the stream would have ended by itself (STREAM_SECONDS).
                started = time.monotonic()
                ready.proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
                for _ in lines:  # the stream ends
                    pass
                ready.proc.wait(timeout=STREAM_SECONDS)  # type: ignore[attr-defined]
                assert time.monotonic() - started < STREAM_SECONDS / 2
