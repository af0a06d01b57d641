"""The database goes away: the API says 503 and writes nothing half; workers wait and resume."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from notifier.api import create_app
from notifier.core.events import Event
from notifier.service import Service
from notifier.store.postgres import PostgresStore
from tests.conftest import webhook_config
from tests.pgserver import PgServer
from tests.scale.conftest import Processes
from tests.sink import Sink


def batch(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{i}", "kind": "support_request", "site": "s", "conversation_id": f"{tag}-{i}",
             "message": "J'ai besoin d'aide"} for i in range(n)]


def stored(db: str, ids: list[str]) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE id = ANY(%s)", (ids,)).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def restarted(server: PgServer) -> Any:
    """Whatever happens inside, the server is running again afterwards."""
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            server.start()


@pytest.fixture
async def api(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config("http://127.0.0.1:9/hook"))
    service = Service(config, pg_url)
    service.store = PostgresStore(pg_url, timeout=1.0)  # answer 503 within a second, not ten
    await service.store.open()
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        yield client, service
    await service.store.close()


async def test_the_api_answers_503_and_stores_nothing_during_an_outage(
        pg_server: PgServer, pg_url: str, api: tuple[httpx.AsyncClient, Service]) -> None:
    client, _ = api
    assert (await client.post("/v1/events", json=batch("before", 10))).status_code == 202
    with restarted(pg_server):
        pg_server.halt()
        r = await client.post("/v1/events", json=batch("during", 50))
        assert r.status_code == 503
        assert r.json()["error"].startswith("the database is unavailable, try again later")
        assert int(r.headers["retry-after"]) >= 1
        assert (await client.get("/healthz")).status_code == 503
    # Back up: the refused batch is absent, and posting it again stores all of it.
    assert (await client.get("/v1/events/during-0")).status_code == 404
    assert stored(pg_url, [e["id"] for e in batch("during", 50)]) == 0
    r = await client.post("/v1/events", json=batch("during", 50))
    assert r.status_code == 202
    assert not any(item["duplicate"] for item in r.json()["events"])
    assert stored(pg_url, [e["id"] for e in batch("before", 10) + batch("during", 50)]) == 60


async def test_a_batch_cut_by_a_shutdown_is_all_or_nothing(
        pg_server: PgServer, pg_url: str, api: tuple[httpx.AsyncClient, Service]) -> None:
    client, _ = api
    sizes: dict[str, tuple[int, int]] = {}  # tag -> (status, size)
    with restarted(pg_server):
        halting: asyncio.Task[None] | None = None
        n = 0
        while halting is None or not halting.done():
            tag = f"b{n}"
            posting = asyncio.create_task(client.post("/v1/events", json=batch(tag, 500)))
            if n == 2:  # shut the server down while this batch is being written
                halting = asyncio.create_task(asyncio.to_thread(pg_server.halt))
            r = await posting
            sizes[tag] = (r.status_code, 500)
            n += 1
        r = await client.post("/v1/events", json=batch("after-halt", 500))
        sizes["after-halt"] = (r.status_code, 500)
    assert {status for status, _ in sizes.values()} <= {202, 503}
    assert sizes["b0"][0] == sizes["b1"][0] == 202
    assert sizes["after-halt"][0] == 503
    for tag, (status, size) in sizes.items():
        count = stored(pg_url, [e["id"] for e in batch(tag, size)])
        # A 503 whose commit landed just before the connection dropped is possible (the client
        # retries with the same ids: duplicates); half a batch never is.
        assert count in (0, size), f"batch {tag} ({status}) is half stored: {count} of {size}"
        if status == 202:
            assert count == size


async def test_a_worker_rides_out_an_outage_and_resumes_by_itself(
        pg_server: PgServer, pg_url: str, processes: Processes, tmp_path: Path) -> None:
    with Sink() as sink:
        sink.latency = 0.02  # a remote that takes a moment: the outage lands mid-queue
        config = tmp_path / "channels.yaml"
        config.write_text(webhook_config(sink.url, extra="", dedup="{window: 0s}").replace(
            "timeout: 2s}", "timeout: 2s, concurrency: 1}"))
        service = Service(config, pg_url)
        await service.store.open()
        try:
            await service.accept([Event.model_validate(e) for e in batch("before", 150)])
            worker = processes.worker("worker", config, pg_url, "--no-digests")
            await sink.wait_for(20, timeout=30)
            with restarted(pg_server):
                pg_server.halt()
                await processes.logged("worker", "store unavailable", timeout=30)  # noticed, still running
                assert worker.poll() is None, "the worker died during the outage"
                during = len(sink.received)
            # The server is back: accept more, and the same worker delivers everything.
            await service.accept([Event.model_validate(e) for e in batch("after", 50)])
            planned = {d.id for d in await service.store.list_deliveries(limit=1000)}
            assert len(planned) == 200
            deadline = time.monotonic() + 60
            while (counts := await service.store.count_deliveries()) != {"sent": 200}:
                assert worker.poll() is None, processes.log("worker")
                assert time.monotonic() < deadline, f"not resumed: {counts}, sink has {len(sink.received)}"
                await asyncio.sleep(0.1)
            assert during < 200
            assert planned == sink.keys()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
        finally:
            await service.store.close()


async def test_a_stop_during_an_outage_says_it_waits_to_record_the_sends_made(
        pg_server: PgServer, pg_url: str, processes: Processes, tmp_path: Path) -> None:
    with Sink() as sink:
        sink.latency = 1.0  # the sends are under way when the database goes (within their 2 s timeout)
        config = tmp_path / "channels.yaml"
        config.write_text(webhook_config(sink.url, extra="", dedup="{window: 0s}"))
        service = Service(config, pg_url)
        await service.store.open()
        try:
            await service.accept([Event.model_validate(e) for e in batch("stop", 3)])
            worker = processes.worker("worker", config, pg_url, "--no-digests")
            await sink.wait_for(1, timeout=30)
            with restarted(pg_server):
                pg_server.halt()
                worker.send_signal(signal.SIGTERM)
                await processes.logged("worker", "waiting for the database to record the sends already made",
                                       timeout=60)
            # Back: the outcomes are written, the worker stops by itself, nothing is sent twice.
            assert worker.wait(60) == 0, processes.log("worker")
            assert await service.store.count_deliveries() == {"sent": 3}
            assert len(sink.received) == 3
        finally:
            await service.store.close()
