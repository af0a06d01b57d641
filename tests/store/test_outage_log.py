"""A store outage writes a few log lines, not one per request.

The first failure is written at once, the next ones are folded into at most one line per
ten seconds that says how many were folded, and the first write that works again says
the store is back. The end-to-end test holds SQLite's write lock from another connection
while a real API answers hundreds of posts with 503.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from notifier.service import Service
from notifier.store.base import StoreUnavailable
from notifier.store.outage_log import KNOWN_OUTAGE_WAIT, OutageLog, for_a_client
from notifier.store.sqlite import SqliteStore
from tests.conftest import webhook_config
from tests.console.helpers import opened_and_serving
from tests.sink import Sink

DOWN = StoreUnavailable("PostgreSQL is unavailable: connection refused")


STEP = 1 / 64  # exact in binary: the interval's edges fall where the test says


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in logged if line["event"].startswith("store ")]


def test_a_long_outage_writes_one_line_per_interval_saying_how_many_were_folded() -> None:
    clock = Clock()
    outage = OutageLog(every=10, clock=clock)
    with structlog.testing.capture_logs() as logged:
        for _ in range(25 * 64):  # 64 failing requests a second for 25 s
            outage.failed(DOWN, path="/v1/events")
            clock.now += STEP
        outage.answered()
        outage.answered()  # the store answering on: nothing more to say
    first, second, third, back = lines(logged)
    assert first == {"event": "store unavailable", "log_level": "warning", "path": "/v1/events",
                     "error": "PostgreSQL is unavailable: connection refused"}
    assert (second["event"], second["folded"], second["down_for"]) == ("store unavailable", 639, 10.0)
    assert (third["folded"], third["down_for"]) == (639, 20.0)
    assert back["event"] == "store available again" and back["log_level"] == "warning"
    assert (back["down_for"], back["folded"]) == (25.0, 319)
    assert 3 + 639 + 639 + 319 == 25 * 64  # each failure written or counted once


def test_a_flapping_store_writes_at_most_two_lines_per_interval() -> None:
    clock = Clock()
    outage = OutageLog(every=10, clock=clock)
    with structlog.testing.capture_logs() as logged:
        for _ in range(20 * 32):  # a lock held now and then: fail, work, fail, work… over 20 s
            outage.failed(DOWN)
            clock.now += STEP
            outage.answered()
            clock.now += STEP
    written = lines(logged)
    assert [line["event"] for line in written] == ["store unavailable", "store available again"] * 2
    assert written[2]["folded"] == 319  # the blips between the lines are counted, not lost


def test_a_new_outage_long_after_the_last_is_written_at_once() -> None:
    clock = Clock()
    outage = OutageLog(every=10, clock=clock)
    with structlog.testing.capture_logs() as logged:
        outage.failed(DOWN)
        outage.answered()
        clock.now += 3600
        outage.failed(StoreUnavailable("the disk is full"))
    assert [(line["event"], line.get("error")) for line in lines(logged)] == [
        ("store unavailable", str(DOWN)), ("store available again", None),
        ("store unavailable", "the disk is full")]


@pytest.fixture
async def served(sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, Path]]:
    """A real API on SQLite whose writes give up on a held lock after 50 ms; its URL and file."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url, dedup="{window: 0s}"), encoding="utf-8")
    db = tmp_path / "notifier.db"
    service = Service(config, f"sqlite:///{db}")
    service.store = SqliteStore(f"sqlite:///{db}", busy_budget=0.05)
    async with opened_and_serving(service) as base:
        yield base, db


async def test_hundreds_of_503s_log_one_line_and_the_recovery_one_more(served: tuple[str, Path]) -> None:
    base, db = served
    event = {"kind": "support_request", "site": "s", "message": "Un conseiller ?"}
    holder = sqlite3.connect(db, isolation_level=None)  # a backup, a CLI command… holding the lock
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 limits=httpx.Limits(max_connections=20)) as client:
        with structlog.testing.capture_logs() as logged:
            holder.execute("BEGIN IMMEDIATE")
            try:
                answers = await asyncio.gather(*[client.post("/v1/events", json={**event, "conversation_id": f"c{i}"})
                                                 for i in range(300)])
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert {a.status_code for a in answers} == {503}
            assert (await client.post("/v1/events", json={**event, "conversation_id": "after"})).status_code == 202
    written = lines(logged)
    # Each line is written when its time comes: on a slow machine 300 posts may take over 10 s.
    assert 2 <= len(written) <= 4, written
    # Not one "request failed" per 503 either: those answers are accounted for in the lines above.
    loud = [line for line in logged if line["log_level"] in ("warning", "error")]
    assert loud == written, [line["event"] for line in loud][:10]
    assert written[0]["event"] == "store unavailable"
    assert "locked by another process" in written[0]["error"]
    assert written[-1]["event"] == "store available again"
    assert sum(line.get("folded", 0) for line in written) + len(written) - 1 == 300


def test_while_an_outage_is_known_a_clients_call_waits_a_moment_not_the_whole_timeout() -> None:
    outage = OutageLog(every=10, clock=Clock())
    with for_a_client():
        assert outage.patience(10.0) == 10.0  # nothing known: the first call of an outage waits it all
    with structlog.testing.capture_logs():
        outage.failed(DOWN)
    with for_a_client():
        assert outage.patience(10.0) == KNOWN_OUTAGE_WAIT < 1.0
        assert outage.patience(0.2) == 0.2  # never longer than the store's own timeout
    # Background work (a worker's claims): nobody waits for it, and a short wait on a starved
    # machine would only be one more failure and a longer back-off.
    assert outage.patience(10.0) == 10.0
    with structlog.testing.capture_logs():
        outage.answered()
    with for_a_client():
        assert outage.patience(10.0) == 10.0  # back: the usual wait again
