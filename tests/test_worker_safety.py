"""No single delivery can stop the worker, and /healthz notices when delivery does not move.

Real SQLite, the real worker loop (``Worker.run``) and a real webhook sink over loopback.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from notifier.api import create_app
from notifier.core.events import Event, Kind, Tool
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def support(**kw: Any) -> Event:
    return Event.model_validate({"kind": "support_request", "site": "shop", "message": "Un humain svp", **kw})


def too_deep_to_read(depth: int = 220) -> Event:
    """An event the store writes but cannot read back (as an older version could accept).

    JSON nested 220 levels deep: within what the store's encoder writes (255), beyond what
    the event parser reads back (about 200). Built without validation: today's API refuses
    it at the door (see test_event_limits).
    """
    arguments: dict[str, Any] = {}
    cur = arguments
    for _ in range(depth):
        cur["a"] = {}
        cur = cur["a"]
    return Event.model_construct(id="poison", kind=Kind.tool_call, site="shop", conversation_id="cp",
                                 tool=Tool.model_construct(name="send_support_email", arguments=arguments),
                                 transcript=[], labels={})


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_unreadable_event_is_dead_lettered_alone_and_the_worker_goes_on(
        make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id=f"before-{i}", conversation_id=f"b{i}") for i in range(3)])
    await service.accept([too_deep_to_read()])
    await service.accept([support(id=f"after-{i}", conversation_id=f"a{i}") for i in range(3)])
    runner = asyncio.create_task(service.run(worker=True, digests=False))
    try:
        expected = {f"before-{i}" for i in range(3)} | {f"after-{i}" for i in range(3)}

        async def all_delivered() -> bool:
            # By id, not by count: delivery is at least once, and a machine loaded enough to
            # time out an answer the sink did send sees that request again.
            return {r.json()["event"]["id"] for r in sink.received} >= expected

        await wait_until(all_delivered)

        async def poison_is_dead() -> bool:
            [d] = await service.store.list_deliveries(event_id="poison")
            return d.status == "dead"

        await wait_until(poison_is_dead)
        [dead] = await service.store.list_deliveries(event_id="poison")
        assert dead.last_error is not None and "stored event cannot be read" in dead.last_error
        assert {r.json()["event"]["id"] for r in sink.received} == expected
        # The loop is still running and still delivers what comes next.
        assert not runner.done()
        await service.accept([support(id="later", conversation_id="l")])

        async def later_delivered() -> bool:
            return any(r.json()["event"]["id"] == "later" for r in sink.received)

        await wait_until(later_delivered)
        assert not runner.done()
    finally:
        service.stop()
        await runner


async def test_unreadable_event_left_claimed_by_a_crash_does_not_block_a_restart(
        make_service: ServiceFactory, sink: Sink) -> None:
    # The poisoned delivery comes due first on every restart: it must not hold back the rest.
    service = await make_service(webhook_config(sink.url))
    await service.accept([too_deep_to_read()])
    await service.accept([support(id="good", conversation_id="g")])
    assert service.worker is not None
    stats = await service.worker.drain()
    assert stats.sent == 1 and stats.dead == 1
    assert [r.json()["event"]["id"] for r in sink.received] == ["good"]


async def health(service: Service, **kw: Any) -> httpx.Response:
    app = create_app(service, manage=False, **kw)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        return await c.get("/healthz")


async def test_healthz_turns_503_when_the_worker_loop_dies(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    runner = asyncio.create_task(service.run(worker=True, digests=False))
    try:
        worker = service.worker
        assert worker is not None

        async def turned() -> bool:
            return worker.beat is not None

        await wait_until(turned)
        r = await health(service)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["worker"]["running"] is True
        assert r.json()["worker"]["last_heartbeat_seconds_ago"] is not None
        # A loop that dies anyway (here: cancelled from outside) must be visible.
        assert service._worker_task is not None
        service._worker_task.cancel()
        await asyncio.gather(service._worker_task, return_exceptions=True)
        r = await health(service)
        assert r.status_code == 503
        assert r.json()["status"] == "unhealthy"
        assert "worker loop is not running" in r.json()["error"]
    finally:
        service.stop()
        await asyncio.gather(runner, return_exceptions=True)


async def test_healthz_reports_a_stuck_queue(make_service: ServiceFactory, sink: Sink) -> None:
    # An API-only process: its workers run elsewhere, and are gone.
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="fresh", conversation_id="f")])
    r = await health(service, stuck_after=timedelta(minutes=10))
    assert r.status_code == 200, r.text
    assert r.json()["worker"] == {"in_this_process": False}
    assert r.json()["oldest_due_seconds"] is not None and r.json()["oldest_due_seconds"] < 600
    await service.accept([support(id="old", conversation_id="o")], now=service.clock() - timedelta(minutes=20))
    r = await health(service, stuck_after=timedelta(minutes=10))
    assert r.status_code == 503
    assert "queue is stuck" in r.json()["error"]
    assert r.json()["oldest_due_seconds"] >= 1200


async def test_healthz_counts_the_worker_processes_beside_serve(
        make_service: ServiceFactory, sink: Sink, tmp_path: Path) -> None:
    # `serve --workers 3`: its own worker, and two worker processes beside it.
    from notifier.worker_processes import WorkerProcesses

    service = await make_service(webhook_config(sink.url))
    children = WorkerProcesses(3, config=tmp_path / "channels.yaml", db_url="sqlite://:memory:",
                               log_level="warning", capture=False)
    app = create_app(service, manage=False)
    app.state.worker_processes = children
    for index in (1, 2):  # two real processes: one running, one that ended (not yet started again)
        children.children[index] = await asyncio.create_subprocess_exec("sleep", "30" if index == 1 else "0")
    await children.children[2].wait()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            r = await c.get("/healthz")
        assert r.json()["worker"]["processes_beside"] == {"running": 1, "of": 2}
    finally:
        children.children[1].kill()
        await children.children[1].wait()
