"""Concurrent requests share transactions, and each still gets its own answer."""

from __future__ import annotations

import asyncio

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def request(i: int, event_id: str | None = None) -> Event:
    return Event.model_validate({"id": event_id or f"ev-{i}", "kind": "support_request", "site": "s",
                                 "conversation_id": f"c-{i}", "message": f"demande {i}"})


async def test_concurrent_requests_each_get_their_own_answer(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    singles = [service.accept([request(i)]) for i in range(60)]
    batch = service.accept([request(100 + i) for i in range(5)])
    # The same id sent by three requests at once: one event, two duplicates.
    same = [service.accept([request(200, "same-id")]) for _ in range(3)]
    answers = await asyncio.gather(*singles, batch, *same)

    for i, answer in enumerate(answers[:60]):
        assert [a.id for a in answer] == [f"ev-{i}"] and not answer[0].duplicate
        assert len(answer[0].deliveries) == 1
    assert [a.id for a in answers[60]] == [f"ev-{100 + i}" for i in range(5)]
    assert sorted(a[0].duplicate for a in answers[61:]) == [False, True, True]
    for ev_id in ("ev-0", "ev-59", "ev-104", "same-id"):
        assert await service.store.get_event(ev_id) is not None
