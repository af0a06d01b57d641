"""The benches' webhook receiver (bench/receiver.py) counts and answers as the benches read it.

Every delivery rate and every comparison with Alertmanager in ``docs/benchmarks.md`` is read
from this receiver's counts and arrival times: a request lost, counted twice or answered
wrongly there would make the numbers lie.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scale.conftest import wait_http
from tests.sink import free_port

RECEIVER = Path(__file__).resolve().parent.parent / "bench" / "receiver.py"


@contextlib.contextmanager
def started(*args: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(RECEIVER), str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_summary", proc, lambda: proc.stderr.read() if proc.stderr else "")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def receiver() -> Iterator[str]:
    with started() as url:
        yield url


def test_counts_each_post_once_with_its_key_time_and_event(receiver: str) -> None:
    before = time.time()
    with httpx.Client(base_url=receiver) as client:  # one keep-alive connection for all
        for i in range(30):
            r = client.post("/hook", json={"event": {"id": f"ev-{i}"}, "delivery_id": f"d{i}"},
                            headers={"Idempotency-Key": f"d{i}"})
            assert (r.status_code, r.json()) == (200, {"ok": True})
        # A body that is not an event is still a request received, with no event id.
        assert client.post("/other", content=b"\xff not json").status_code == 200
        stats = client.get("/_stats").json()
        summary = client.get("/_summary").json()
    assert [s[0] for s in stats] == [f"d{i}" for i in range(30)] + [""]
    assert [s[2] for s in stats] == [f"ev-{i}" for i in range(30)] + [None]
    assert all(before <= s[1] <= time.time() for s in stats)
    assert [s[1] for s in stats] == sorted(s[1] for s in stats)
    assert summary["requests"] == 31
    assert summary["statuses"] == {"200": 31}
    assert summary["first"] == stats[0][1]
    assert summary["last_ok"] >= stats[-1][1]


def test_reset_forgets_what_was_received(receiver: str) -> None:
    httpx.post(f"{receiver}/hook", json={"event": {"id": "x"}})
    assert httpx.get(f"{receiver}/_reset").json()["requests"] == 0
    assert httpx.get(f"{receiver}/_stats").json() == []


def test_a_request_it_cannot_parse_is_answered_400_and_closed(receiver: str) -> None:
    host, port = receiver.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert httpx.get(f"{receiver}/_summary").json()["requests"] == 0


def test_a_slow_receiver_answers_after_its_latency_and_refuses_every_nth() -> None:
    with started("0.2", "3") as url:
        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                answers = await asyncio.gather(*(client.post("/hook", json={"event": {"id": str(i)}})
                                                 for i in range(6)))
            return [a.status_code for a in answers]

        t0 = time.monotonic()
        statuses = asyncio.run(burst())
        took = time.monotonic() - t0
        summary = httpx.get(f"{url}/_summary").json()
        assert sorted(statuses) == [200, 200, 200, 200, 429, 429]
        assert took >= 0.2
        assert summary["statuses"] == {"200": 4, "429": 2}
        assert summary["peak_in_flight"] == 6  # all six waited at once: the latency is not a queue
        # uvloop's timers count whole milliseconds and may fire up to one early (and the
        # receiver stamps with the wall clock, the loop times with the monotonic one).
        assert summary["last_ok"] >= summary["first"] + 0.2 - 0.005
