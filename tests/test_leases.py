"""Leases with heartbeats: a live worker keeps its claims however long a send takes."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


async def test_a_slow_send_keeps_its_claim_while_its_worker_lives(make_service: ServiceFactory,
                                                                  sink: Sink) -> None:
    # A remote that takes 2.5 s to answer, leases of 1 s, and a second worker waiting for
    # expired leases: without heartbeats it would take the claim and send a second time.
    sink.latency = 2.5
    text = webhook_config(sink.url, dedup="{window: 0s}").replace("timeout: 2s", "timeout: 10s")
    lease = {"worker_options": {"lease": timedelta(seconds=1)}}
    first, second = await make_service(text, **lease), await make_service(text, **lease)
    await first.accept([Event.model_validate({"id": "slow-1", "kind": "support_request", "site": "s",
                                              "conversation_id": "c1", "message": "Un humain svp"})])
    stop = asyncio.Event()
    assert first.worker is not None and second.worker is not None
    running = [asyncio.create_task(first.worker.run(stop))]
    await sink.wait_for(1, timeout=30)  # the first worker is sending it now
    running.append(asyncio.create_task(second.worker.run(stop)))
    try:
        deadline = time.monotonic() + 30
        while (await first.store.count_deliveries()) != {"sent": 1}:
            assert time.monotonic() < deadline, await first.store.count_deliveries()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*running)
    [d] = await first.store.list_deliveries()
    assert len(sink.received) == 1, "a live worker's claim was taken over and sent twice"
    assert d.attempts == 1 and second.worker.stats.sent == 0
