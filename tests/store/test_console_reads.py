"""The console's reading queries on both backends: the queue's pages, the live version,
deliveries by filter, channel health and attempts for the charts."""

from __future__ import annotations

from datetime import timedelta

from notifier.console.queries import QUEUE_FILTERS, ConsoleReads
from notifier.core.events import Priority
from notifier.store import Store
from notifier.store.base import NewDelivery
from notifier.store.cases import CaseStore
from tests.store.test_cases import T0, event, open_case

M = timedelta(minutes=1)


async def test_the_queue_pages_newest_first_and_filters_status_and_site(store: Store) -> None:
    for i in range(3):
        await open_case(store, event(f"e{i}", conversation=f"c{i}", site=f"s{i % 2}.example"), T0 + i * M)
    reads = ConsoleReads(store.connector())
    before = await reads.queue_version()
    await CaseStore(store.connector()).act("case-e0", "claim", actor="marie", via="console", now=T0 + 5 * M)
    assert await reads.queue_version() != before  # the live queue sees the claim

    page = await reads.queue(statuses=QUEUE_FILTERS["active"], sites=None, page=1, per_page=2)
    assert page.total == 3 and page.pages == 2
    assert [r.case.id for r in page.rows] == ["case-e2", "case-e1"] and page.rows[0].level == 0
    second = await reads.queue(statuses=QUEUE_FILTERS["active"], sites=None, page=2, per_page=2)
    assert [r.case.id for r in second.rows] == ["case-e0"]
    assert (await reads.queue(statuses=QUEUE_FILTERS["open"], sites=None, page=1)).total == 2
    only = await reads.queue(statuses=None, sites=["s0.example"], page=1)
    assert sorted(r.case.id for r in only.rows) == ["case-e0", "case-e2"]
    far = await reads.queue(statuses=None, sites=None, page=99, per_page=2)
    assert far.page == 2  # a page past the end shows the last one


async def test_deliveries_filter_and_channel_health(store: Store) -> None:
    for i, channel in enumerate(["hook", "slack", "hook"]):
        async with store.transaction() as tx:
            assert await tx.insert_event(event(f"d{i}", conversation=f"d{i}"), T0 + i * M, None)
            await tx.insert_deliveries(f"d{i}", [NewDelivery(f"del{i}", "handoff", channel, Priority.normal)],
                                       T0 + i * M)
    claimed = await store.claim("w1", T0 + 10 * M, timedelta(minutes=5), 10)
    first = next(c for c in claimed if c.delivery.id == "del0")
    await store.dead(first.delivery.id, "w1", T0 + 10 * M, reason="HTTP 400: bad field", duration_ms=12.5)
    await store.release("w1")
    reads = ConsoleReads(store.connector())
    dead = await reads.deliveries(status="dead")
    assert [d.id for d in dead] == ["del0"] and dead[0].last_error == "HTTP 400: bad field"
    assert [d.id for d in await reads.deliveries(channel="hook")] == ["del2", "del0"]
    assert [d.id for d in await reads.deliveries(since=T0 + M, until=T0 + 2 * M)] == ["del1"]
    assert await reads.deliveries(route="other") == []
    assert await reads.deliveries(sites=["elsewhere.example"]) == []
    health = await reads.channel_health()
    assert health["hook"].dead == 1 and health["hook"].last_error == "HTTP 400: bad field"
    assert health["slack"].pending == 1 and health["slack"].last_success is None
    attempts = await reads.attempts_since(T0)
    assert [(outcome, ms) for _, outcome, ms in attempts] == [("permanent", 12.5)]
