"""An accept given up half-way never leaves SQLite's write lock held nor an answered event lost.

The first statement of an accept transaction (its ``BEGIN IMMEDIATE``) may run in the
store's thread: a caller cancelled while it waits there (a timeout, a stop) is gone, but
the thread runs the statement all the same. The transaction it opened must still be rolled
back: left open, it would hold the database's one write lock, and every other process (the
worker's claims, another API process's accepts) would be refused until this one happened
to write again. An HTTP client that hangs up cancels nothing: the last test shows what it
sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from notifier.store.sqlite import SqliteStore
from tests.conftest import webhook_config
from tests.scale.conftest import Processes
from tests.sink import Sink
from tests.store.test_contract import LEASE, T0, accept, event, planned

#: Accepts given up at random moments.
ROUNDS = 300


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
async def test_an_accept_cancelled_in_its_first_call_lets_other_processes_write(tmp_path: Path,
                                                                                 inline: bool) -> None:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    api = SqliteStore(url, inline=inline)
    await api.open()
    worker = SqliteStore(url, inline=True, busy_budget=1.0)  # as another process opens it
    await worker.open()
    try:
        # A long call in the store's thread (a search, a checkpoint): the accept's first call
        # queues behind it, on an inline store too, and the caller gives up meanwhile.
        gate = threading.Event()
        busy = asyncio.create_task(api.writer.run(lambda c: gate.wait(10)))
        accepting = asyncio.create_task(accept(api, event("given-up"), planned("d0")))
        await asyncio.sleep(0)  # both calls are queued for the thread
        accepting.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await accepting
        assert await busy

        # Another process writes within its busy budget: an accept, then a claim.
        assert await accept(worker, event("e1"), planned("d1"))
        assert [c.delivery.id for c in await worker.claim("w", T0, LEASE, 5)] == ["d1"]
        # The given-up event was never answered: nothing of it is stored.
        assert await worker.get_event("given-up") is None
        # And the store whose caller gave up goes on accepting.
        assert await accept(api, event("e2"), planned("d2"))
        assert [c.delivery.id for c in await worker.claim("w", T0, LEASE, 5)] == ["d2"]
    finally:
        await worker.close()
        await api.close()
    with sqlite3.connect(tmp_path / "notifier.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
async def test_accepts_cancelled_anywhere_lose_no_answered_event_and_block_no_other_process(
        tmp_path: Path, inline: bool) -> None:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    api = SqliteStore(url, inline=inline)
    await api.open()
    worker = SqliteStore(url, inline=True, busy_budget=1.0)
    await worker.open()
    rng = random.Random(1)
    answered: dict[str, str] = {}  # event -> its delivery
    try:
        for i in range(ROUNDS):
            # Given up after a moment: before its first call, in the thread, between calls, at the commit.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(accept(api, event(f"e{i}"), planned(f"d{i}")), rng.uniform(0, 0.002))
                answered[f"e{i}"] = f"d{i}"
            # At once, another process writes within its busy budget.
            assert await accept(worker, event(f"w{i}"), planned(f"dw{i}"))
            answered[f"w{i}"] = f"dw{i}"
        assert await accept(api, event("last"), planned("d-last"))
        answered["last"] = "d-last"
        for event_id in answered:
            assert await worker.get_event(event_id) is not None, f"{event_id} was answered, then lost"
        claimed = {c.delivery.id for c in await worker.claim("w", T0, LEASE, 10 * ROUNDS)}
        assert set(answered.values()) <= claimed
    finally:
        await worker.close()
        await api.close()
    with sqlite3.connect(tmp_path / "notifier.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


#: Clients that give up on their POST: mid-body, or at a random moment once it was sent.
VANISHING = 240


async def post_and_vanish(port: int, ev: dict[str, Any], patience: float, *, whole: bool) -> None:
    """POST ``ev`` and close the connection after ``patience`` seconds, the answer unread."""
    body = orjson.dumps(ev)
    head = (f"POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + (body if whole else body[:len(body) // 2]))
    await writer.drain()
    await asyncio.sleep(patience)  # the client's patience, not a wait for work
    writer.transport.abort()


async def test_clients_that_hang_up_mid_post_lose_nothing_and_block_no_other_process(
        tmp_path: Path, processes: Processes) -> None:
    # An HTTP client that hangs up does not cancel the accept: its POST handler goes on (uvicorn
    # cancels no handler when a client leaves), and the transaction runs in the API's group-commit
    # task, not in the request's. What the client did not hear about is stored whole or not at all,
    # its retry is answered 202, and the worker in another process delivers everything.
    rng = random.Random(2)
    events = [{"id": f"v{i}", "kind": "support_request", "site": "s", "conversation_id": f"v{i}",
               "message": "J'ai besoin d'aide"} for i in range(VANISHING)]
    with Sink() as sink:
        config = tmp_path / "channels.yaml"
        config.write_text(webhook_config(sink.url, dedup="{window: 0s}"))
        db = tmp_path / "notifier.db"
        _, port = processes.api("api", config, f"sqlite:///{db}")
        processes.worker("worker", config, f"sqlite:///{db}")
        for wave in range(0, VANISHING, 40):
            await asyncio.gather(*(post_and_vanish(port, ev, rng.uniform(0, 0.01), whole=i % 8 != 0)
                                   for i, ev in enumerate(events[wave:wave + 40])))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            # Nothing half-stored: an event is there with its delivery, or not at all.
            with sqlite3.connect(db) as check:
                orphans = check.execute(
                    "SELECT id FROM events WHERE id NOT IN (SELECT event_id FROM deliveries)").fetchall()
            assert orphans == []
            # The clients retry: each is answered 202, a duplicate or not, and everything is delivered.
            for ev in events:
                r = await http.post("/v1/events", json=ev)
                assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while (missing := {ev["id"] for ev in events} - {r.json()["event"]["id"] for r in sink.received}):
                assert time.monotonic() < deadline, f"{len(missing)} events not delivered: {processes.log('worker')}"
                await asyncio.sleep(0.05)
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
