"""The storage contract: every backend behaves the same (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from notifier.core.dedup import DedupState
from notifier.core.events import Event, Kind, Priority, User
from notifier.store import NewDelivery, SchemaMismatch, Store, store_for
from notifier.store.base import migrations

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
S = timedelta(seconds=1)

OpenStore = Callable[[], Awaitable[Store]]

#: Each test also runs on SQLite as ``notifier serve`` and ``notifier worker`` open it (its
#: short calls on the event loop's thread): the contract is the same.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "sqlite-inline", "postgresql"], indirect=True)


def event(event_id: str = "e1", **extra: object) -> Event:
    fields: dict[str, object] = {
        "id": event_id, "kind": Kind.support_request, "site": "shop.example.com",
        "conversation_id": "c1", "occurred_at": T0, "message": "Je veux parler à quelqu'un",
        "user": User(name="Ana", email="ana@example.com", consent=True), **extra,
    }
    return Event.model_validate(fields)


def planned(delivery_id: str, channel: str = "support-email", **extra: object) -> NewDelivery:
    fields: dict[str, object] = {"id": delivery_id, "route": "handoff", "channel": channel,
                                 "priority": Priority.normal, **extra}
    return NewDelivery(**fields)  # type: ignore[arg-type]


async def accept(store: Store, ev: Event, *deliveries: NewDelivery, now: datetime = T0) -> bool:
    """Store an event and its deliveries as the pipeline does; ``False`` for a duplicate."""
    async with store.transaction() as tx:
        assert ev.id is not None
        if not await tx.insert_event(ev, now, None):
            return False
        await tx.insert_deliveries(ev.id, list(deliveries), now)
    await store.notify_work()
    return True


async def claim_one(store: Store, worker: str = "w1", now: datetime = T0) -> str:
    claimed = await store.claim(worker, now, LEASE, 1)
    assert len(claimed) == 1
    return claimed[0].delivery.id


# ----------------------------------------------------------------------------- events
async def test_event_is_stored_once(store: Store) -> None:
    assert await accept(store, event("e1"), planned("d1"))
    # The same id again (a client retry): refused, and the first version is kept.
    assert not await accept(store, event("e1", message="changed"), planned("d2"))
    got = await store.get_event("e1")
    assert got is not None
    assert got[0] == event("e1") and got[1] == T0
    assert await store.get_event("nope") is None
    assert [d.id for d in await store.list_deliveries()] == ["d1"]


async def test_concurrent_duplicates_are_refused_by_the_database(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    results = await asyncio.gather(*(accept(s, event("same"), planned(f"d{i}"))
                                     for i, s in enumerate([a, b, a, b])))
    assert sorted(results) == [False, False, False, True]
    assert len(await a.list_deliveries()) == 1


async def test_one_delivery_per_event_and_channel(store: Store) -> None:
    with pytest.raises(Exception):  # noqa: B017 - each database raises its own integrity error
        await accept(store, event("e1"), planned("d1", "slack"), planned("d2", "slack"))
    # The transaction is all or nothing: neither the event nor a delivery was kept.
    assert await store.get_event("e1") is None
    assert await store.count_deliveries() == {}


async def test_failed_transaction_keeps_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.insert_event(event("e1"), T0, None)
            await tx.save_dedup("k", DedupState(T0 + LEASE, 0, "d1"))
            raise RuntimeError("routing failed")
    assert await store.get_event("e1") is None
    async with store.transaction() as tx:
        assert await tx.lock_dedup("k") is None


# ----------------------------------------------------------------------------- claims
async def test_claim_returns_due_deliveries_with_their_event(store: Store) -> None:
    await accept(store, event("e1"), planned("d1", keywords=("urgent",), dedup_key="k", folded=2))
    assert await store.claim("w1", T0 - S, LEASE, 10) == []  # not due yet
    [c] = await store.claim("w1", T0, LEASE, 10)
    assert c.event == event("e1") and c.thread_ref is None
    d = c.delivery
    assert (d.id, d.event_id, d.channel, d.route, d.status) == ("d1", "e1", "support-email", "handoff", "claimed")
    assert (d.claimed_by, d.lease_until, d.attempts) == ("w1", T0 + LEASE, 0)
    assert (d.keywords, d.dedup_key, d.folded, d.priority) == (("urgent",), "k", 2, Priority.normal)
    assert await store.claim_owners() == ["w1"]
    assert await store.claim("w2", T0 + S, LEASE, 10) == []  # held by w1


async def test_claim_takes_the_oldest_first_up_to_limit(store: Store) -> None:
    for i in range(5):
        await accept(store, event(f"e{i}"), planned(f"d{i}"), now=T0 + i * S)
    first = await store.claim("w1", T0 + 10 * S, LEASE, 2)
    assert [c.delivery.id for c in first] == ["d0", "d1"]
    rest = await store.claim("w1", T0 + 10 * S, LEASE, 10)
    assert [c.delivery.id for c in rest] == ["d2", "d3", "d4"]


async def test_claim_only_the_channels_asked_for(store: Store) -> None:
    await accept(store, event("e1"), planned("d1", "slack"), planned("d2", "support-email"),
                 planned("d3", "teams"))
    assert await store.claim("w1", T0, LEASE, 10, channels=[]) == []
    got = await store.claim("w1", T0, LEASE, 10, channels=["slack", "teams"])
    assert sorted(c.delivery.id for c in got) == ["d1", "d3"]
    assert [c.delivery.id for c in await store.claim("w1", T0, LEASE, 10)] == ["d2"]


async def test_suppressed_deliveries_are_recorded_but_never_claimed(store: Store) -> None:
    await accept(store, event("e1"), planned("d1", status="suppressed"))
    assert await store.claim("w1", T0 + timedelta(days=1), LEASE, 10) == []
    [d] = await store.list_deliveries()
    assert d.status == "suppressed" and d.next_attempt_at is None
    assert await store.next_due() is None


async def test_an_expired_lease_is_claimed_again(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"))
    await claim_one(store, "w1")
    assert await store.claim("w2", T0 + LEASE - S, LEASE, 10) == []
    [c] = await store.claim("w2", T0 + LEASE + S, LEASE, 10)
    assert c.delivery.claimed_by == "w2"
    # The first worker lost its claim: its failure report is refused.
    assert not await store.reschedule("d1", "w1", T0 + LEASE + S, T0 + LEASE * 2,
                                      reason="timeout", duration_ms=1.0)
    assert not await store.dead("d1", "w1", T0 + LEASE + S, reason="x", duration_ms=1.0)
    assert (await store.get_delivery("d1")).claimed_by == "w2"  # type: ignore[union-attr]


async def test_a_renewed_lease_keeps_the_claim_until_it_runs_out_again(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"), planned("d2", "slack"))
    assert len(await store.claim("w1", T0, LEASE, 1, channels=["support-email"])) == 1
    assert len(await store.claim("w1", T0, LEASE, 1, channels=["slack"])) == 1
    # A heartbeat just before the lease ends: d1 is still w1's after the first lease.
    assert await store.renew("w1", ["d1"], T0 + LEASE - S, LEASE) == ["d1"]
    assert (await store.get_delivery("d1")).lease_until == T0 + LEASE * 2 - S  # type: ignore[union-attr]
    [taken] = await store.claim("w2", T0 + LEASE + S, LEASE, 10)
    assert taken.delivery.id == "d2"  # the claim that was not renewed returned to the queue
    assert await store.next_due() == T0 + LEASE * 2 - S  # the renewed lease is when d1 may return
    # No heartbeat any more (the worker died): the claim returns once the renewed lease ran out.
    assert await store.claim("w3", T0 + LEASE * 2 - S * 2, LEASE, 10) == []
    [back] = await store.claim("w3", T0 + LEASE * 2, LEASE, 10)
    assert (back.delivery.id, back.delivery.claimed_by) == ("d1", "w3")


async def test_a_dead_workers_claims_go_before_newer_pending_work(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"))
    await claim_one(store, "w1")  # w1 dies holding d1
    for i in range(2, 5):
        await accept(store, event(f"e{i}"), planned(f"d{i}"), now=T0 + S * i)
    [first] = await store.claim("w2", T0 + LEASE + S, LEASE, 1)
    assert first.delivery.id == "d1"  # due first: not sent behind the backlog that came after it


async def test_only_the_holder_renews_and_only_what_it_still_holds(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"), planned("d2", "slack"), planned("d3", "teams"))
    await store.claim("w1", T0, LEASE, 3)
    assert await store.renew("w1", [], T0, LEASE) == []
    assert await store.renew("w2", ["d1", "d2"], T0 + S, LEASE) == []  # not w2's claims
    assert (await store.get_delivery("d1")).lease_until == T0 + LEASE  # type: ignore[union-attr]
    assert await store.complete("d2", "w1", T0 + S, ref=None, thread_ref=None, duration_ms=1.0)
    # d3's lease ran out and w2 took it: w1's heartbeat must not take it back.
    [c] = await store.claim("w2", T0 + LEASE + S, LEASE, 10, channels=["teams"])
    assert c.delivery.id == "d3"
    assert await store.renew("w1", ["d1", "d2", "d3"], T0 + LEASE + S, LEASE) == ["d1"]
    assert (await store.get_delivery("d3")).claimed_by == "w2"  # type: ignore[union-attr]
    assert (await store.get_delivery("d2")).status == "sent"  # type: ignore[union-attr]


async def test_concurrent_claimers_never_share_a_delivery(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    for e in range(10):
        await accept(a, event(f"e{e}"), *(planned(f"d{e}-{c}", f"ch{c}") for c in range(4)))
    seen: list[str] = []
    while True:
        rounds = await asyncio.gather(*(s.claim(f"w{i}", T0, LEASE, 3)
                                        for i, s in enumerate([a, b, a, b])))
        got = [c.delivery.id for r in rounds for c in r]
        if not got:
            break
        seen += got
    assert len(seen) == 40 and len(set(seen)) == 40


# ----------------------------------------------------------------------------- outcomes
async def test_complete_marks_sent_and_records_the_attempt(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"))
    await claim_one(store)
    assert await store.complete("d1", "w1", T0 + S, ref="<msg-1@x>", thread_ref=None, duration_ms=12.5)
    d = await store.get_delivery("d1")
    assert d is not None
    assert (d.status, d.attempts, d.ref, d.sent_at, d.first_attempt_at) == ("sent", 1, "<msg-1@x>", T0 + S, T0 + S)
    assert (d.claimed_by, d.lease_until, d.next_attempt_at) == (None, None, None)
    [a] = await store.attempts("d1")
    assert (a.number, a.outcome, a.at, a.duration_ms) == (1, "sent", T0 + S, 12.5)
    assert not await store.complete("d1", "w1", T0 + 2 * S, ref=None, thread_ref=None, duration_ms=1)
    assert await store.claim_owners() == []


async def test_complete_many_records_a_batch_at_once(store: Store) -> None:
    from notifier.store.base import Completion

    await accept(store, event("e1"), planned("d1", "mail"), planned("d2", "slack"), planned("d3", "hook"))
    claimed = await store.claim("w1", T0, LEASE, 10)
    assert len(claimed) == 3
    results = await store.complete_many([
        Completion("d1", "w1", T0 + S, "<m1@x>", "<m1@x>", 3.0),
        Completion("d2", "w1", T0 + S, "1700.1", None, 4.0),
        Completion("nope", "w1", T0 + S, None, None, 1.0),
    ])
    assert results == [True, True, False]
    assert {d.id: d.status for d in await store.list_deliveries()} == {"d1": "sent", "d2": "sent", "d3": "claimed"}
    assert (await store.get_delivery("d2")).ref == "1700.1"  # type: ignore[union-attr]
    [a] = await store.attempts("d1")
    assert (a.outcome, a.duration_ms) == ("sent", 3.0)


async def test_a_batch_of_completions_records_what_single_ones_do(store: Store) -> None:
    # The batch is written in a couple of statements: each row still gets its own time,
    # reference, attempt number and reason, and a first message starts its thread.
    from notifier.store.base import Completion

    await accept(store, event("e1"), planned("d1", "slack", thread_key="shop:c1"), planned("d2", "hook"))
    assert len(await store.claim("w1", T0, LEASE, 10)) == 2
    assert await store.reschedule("d2", "w1", T0, T0, reason="HTTP 503", duration_ms=1.0)
    assert [c.delivery.id for c in await store.claim("w1", T0 + S, LEASE, 10)] == ["d2"]
    assert await store.complete_many([
        Completion("d1", "w1", T0 + S, "1700.1", "1700.1", 3.0, "slow but fine"),
        Completion("d2", "w1", T0 + 2 * S, None, None, 4.5),
    ]) == [True, True]
    d1, d2 = await store.get_delivery("d1"), await store.get_delivery("d2")
    assert d1 is not None and d2 is not None
    assert (d1.status, d1.ref, d1.attempts, d1.sent_at, d1.first_attempt_at) == ("sent", "1700.1", 1, T0 + S, T0 + S)
    assert (d2.status, d2.ref, d2.attempts, d2.sent_at, d2.first_attempt_at) == ("sent", None, 2, T0 + 2 * S, T0)
    assert [(a.number, a.outcome, a.at, a.reason, a.duration_ms) for a in await store.attempts("d1")] == [
        (1, "sent", T0 + S, "slow but fine", 3.0)]
    assert [(a.number, a.outcome, a.duration_ms) for a in await store.attempts("d2")] == [
        (1, "retry", 1.0), (2, "sent", 4.5)]
    await accept(store, event("e2"), planned("d3", "slack", thread_key="shop:c1"))
    [c] = await store.claim("w1", T0 + 2 * S, LEASE, 10)
    assert c.thread_ref == "1700.1"


async def test_reschedule_makes_it_due_at_the_given_time(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"))
    await claim_one(store)
    retry_at = T0 + timedelta(minutes=2)
    assert await store.reschedule("d1", "w1", T0 + S, retry_at, reason="HTTP 503", duration_ms=3.0,
                                  progress={"ticket": 42})
    d = await store.get_delivery("d1")
    assert d is not None
    assert (d.status, d.attempts, d.last_error, d.next_attempt_at) == ("pending", 1, "HTTP 503", retry_at)
    assert await store.next_due() == retry_at
    assert await store.claim("w1", retry_at - S, LEASE, 10) == []
    [c] = await store.claim("w2", retry_at, LEASE, 10)
    # What the channel already did (e.g. the ticket it created) comes back with the claim.
    assert c.delivery.progress == {"ticket": 42} and c.delivery.attempts == 1
    assert await store.reschedule("d1", "w2", retry_at + S, retry_at + LEASE, reason="HTTP 429",
                                  duration_ms=1.0)
    assert [(a.number, a.outcome, a.reason) for a in await store.attempts("d1")] == [
        (1, "retry", "HTTP 503"), (2, "retry", "HTTP 429")]
    assert (await store.get_delivery("d1")).progress == {"ticket": 42}  # type: ignore[union-attr]


async def test_dead_letters_and_replay(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"), planned("d2", "slack"), planned("d3", "teams"))
    for _ in range(3):
        await claim_one(store)
    assert await store.dead("d1", "w1", T0 + S, reason="HTTP 401: bad token", duration_ms=2.0)
    assert await store.dead("d2", "w1", T0 + S, reason="gave up after 12 attempts", duration_ms=2.0,
                            outcome="retry")
    d1 = await store.get_delivery("d1")
    assert d1 is not None
    assert (d1.status, d1.attempts, d1.last_error, d1.next_attempt_at) == ("dead", 1, "HTTP 401: bad token", None)
    assert [a.outcome for a in await store.attempts("d1")] == ["permanent"]
    assert [a.outcome for a in await store.attempts("d2")] == ["retry"]
    assert await store.claim("w1", T0 + LEASE - S, LEASE, 10) == []  # dead letters wait for a replay

    assert await store.replay(T0 + 2 * S, "d3") == []  # still claimed: not a dead letter
    assert await store.replay(T0 + 2 * S, "d1") == ["d1"]
    d1 = await store.get_delivery("d1")
    assert d1 is not None and (d1.status, d1.attempts, d1.next_attempt_at) == ("pending", 0, T0 + 2 * S)
    assert await store.replay(T0 + 3 * S, all_dead=True) == ["d2"]
    assert await store.replay(T0 + 3 * S) == []
    got = await store.claim("w2", T0 + 3 * S, LEASE, 10)
    assert sorted(c.delivery.id for c in got) == ["d1", "d2"]


async def test_release_puts_claims_back(store: Store) -> None:
    await accept(store, event("e1"), planned("d1"), planned("d2", "slack"), planned("d3", "teams"))
    await store.claim("w1", T0, LEASE, 2)
    await store.claim("w2", T0, LEASE, 1)
    assert sorted(await store.claim_owners()) == ["w1", "w2"]
    assert await store.release("w1", []) == 0
    assert await store.release("w1", ["d1"]) == 1
    assert await store.release("w1", ["d3"]) == 0  # w2's claim is not w1's to release
    assert await store.release("w1") == 1
    assert await store.claim_owners() == ["w2"]
    # Released deliveries are claimable again at once, without waiting for the lease.
    assert sorted(c.delivery.id for c in await store.claim("w3", T0, LEASE, 10)) == ["d1", "d2"]


# ----------------------------------------------------------------------------- dedup
async def test_dedup_state_round_trip(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.lock_dedup("shop|c1") is None
        await tx.save_dedup("shop|c1", DedupState(T0 + LEASE, 0, "d1"))
    async with store.transaction() as tx:
        assert await tx.lock_dedup("shop|c1") == DedupState(T0 + LEASE, 0, "d1")
        await tx.save_dedup("shop|c1", DedupState(T0 + LEASE, 3, "d1"))
        assert await tx.lock_dedup("other") is None
    async with store.transaction() as tx:
        assert await tx.lock_dedup("shop|c1") == DedupState(T0 + LEASE, 3, "d1")


async def test_dedup_decisions_on_one_key_are_serialised(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()

    async def count_one(store: Store) -> None:
        async with store.transaction() as tx:
            state = await tx.lock_dedup("new-key")
            seen = state.suppressed + 1 if state else 0
            await tx.save_dedup("new-key", DedupState(T0 + LEASE, seen, "d0"))

    await asyncio.gather(*(count_one(s) for s in [a, b] * 6))
    async with a.transaction() as tx:
        # Twelve transactions, each saw the previous one's count: none was lost.
        assert await tx.lock_dedup("new-key") == DedupState(T0 + LEASE, 11, "d0")


# ----------------------------------------------------------------------------- threads
async def test_follow_ups_are_threaded_under_the_first_message(store: Store) -> None:
    await accept(store, event("e1"), planned("d1", "slack", thread_key="shop:c1"))
    await claim_one(store)
    assert await store.complete("d1", "w1", T0, ref="1700.1", thread_ref="1700.1", duration_ms=1)
    await accept(store, event("e2"), planned("d2", "slack", thread_key="shop:c1"),
                 planned("d3", "support-email", thread_key="shop:c1"))
    await accept(store, event("e4", conversation_id="c2"), planned("d4", "slack", thread_key="shop:c2"))
    got = {c.delivery.id: c.thread_ref for c in await store.claim("w1", T0, LEASE, 10)}
    assert got == {"d2": "1700.1", "d3": None, "d4": None}
    # The thread stays the first one even if a later send reports another reference.
    assert await store.complete("d2", "w1", T0, ref="1700.2", thread_ref="1700.2", duration_ms=1)
    await accept(store, event("e3"), planned("d5", "slack", thread_key="shop:c1"))
    [c] = await store.claim("w1", T0, LEASE, 10)
    assert c.thread_ref == "1700.1"


# ----------------------------------------------------------------------------- digests
async def test_a_digest_period_is_claimed_once(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    start, end = T0 - timedelta(days=1), T0
    results = await asyncio.gather(*(s.claim_digest("daily", start, end, f"w{i}", T0)
                                     for i, s in enumerate([a, b, a, b])))
    assert sorted(results) == [False, False, False, True]
    assert not await b.claim_digest("daily", start, end, "w9", T0 + S)
    assert await b.claim_digest("weekly", start, end, "w9", T0)  # another digest
    assert await a.claim_digest("daily", start, end, "w9", T0 + S, force=True)
    assert await a.claim_digest("daily", end, end + timedelta(days=1), "w1", T0 + timedelta(days=1))


async def test_an_abandoned_digest_run_is_taken_over_once_stale(open_store: OpenStore) -> None:
    from notifier.store.base import DIGEST_STALE

    a, b = await open_store(), await open_store()
    start, end = T0 - timedelta(days=1), T0
    assert await a.claim_digest("daily", start, end, "dead-process", T0)
    # still fresh: nobody else may take it
    assert not await b.claim_digest("daily", start, end, "w2", T0 + DIGEST_STALE - S)
    # stale: exactly one of two contenders takes it over
    later = T0 + DIGEST_STALE + S
    results = await asyncio.gather(a.claim_digest("daily", start, end, "w3", later),
                                   b.claim_digest("daily", start, end, "w4", later))
    assert sorted(results) == [False, True]
    run = await a.last_digest("daily")
    assert run is not None and run.claimed_by in ("w3", "w4")
    # a finished run is never taken over
    await a.finish_digest("daily", start, later, ok=True)
    assert not await b.claim_digest("daily", start, end, "w5", later + DIGEST_STALE * 2)


async def test_finish_and_last_digest(store: Store) -> None:
    assert await store.last_digest("daily") is None
    day = timedelta(days=1)
    await store.claim_digest("daily", T0 - day, T0, "w1", T0)
    run = await store.last_digest("daily")
    assert run is not None
    assert (run.status, run.period_start, run.period_end, run.claimed_by, run.claimed_at, run.finished_at) == (
        "running", T0 - day, T0, "w1", T0, None)
    await store.finish_digest("daily", T0 - day, T0 + S, ok=True, detail="2 channels")
    run = await store.last_digest("daily")
    assert run is not None and (run.status, run.finished_at, run.detail) == ("sent", T0 + S, "2 channels")
    await store.claim_digest("daily", T0, T0 + day, "w1", T0 + day)
    await store.finish_digest("daily", T0, T0 + day, ok=False, detail="SMTP down")
    run = await store.last_digest("daily")
    assert run is not None and (run.period_start, run.status, run.detail) == (T0, "failed", "SMTP down")


# ----------------------------------------------------------------------------- reading
async def test_counts_lists_and_next_due(store: Store) -> None:
    assert await store.count_deliveries() == {}
    assert await store.next_due() is None
    await accept(store, event("e1"), planned("d1"), planned("d2", "slack"), now=T0)
    await accept(store, event("e2"), planned("d3"), planned("d4", "teams", status="suppressed"),
                 now=T0 + S)
    assert await store.next_due() == T0
    await store.claim("w1", T0, LEASE, 1, channels=["support-email"])  # d1
    await store.complete("d1", "w1", T0, ref=None, thread_ref=None, duration_ms=1)
    await store.claim("w1", T0, LEASE, 1, channels=["slack"])  # d2, lease until T0 + LEASE
    assert await store.count_deliveries() == {"sent": 1, "claimed": 1, "pending": 1, "suppressed": 1}
    assert await store.next_due() == T0 + S  # d3; a lease also counts once it is the earliest
    await store.claim("w1", T0 + S, LEASE, 1)
    assert await store.next_due() == T0 + LEASE

    assert [d.id for d in await store.list_deliveries()] == ["d3", "d4", "d1", "d2"]  # newest first
    assert [d.id for d in await store.list_deliveries(status="sent")] == ["d1"]
    assert [d.id for d in await store.list_deliveries(event_id="e1")] == ["d1", "d2"]
    assert [d.id for d in await store.list_deliveries(channel="support-email")] == ["d3", "d1"]
    assert [d.id for d in await store.list_deliveries(channel="support-email", status="claimed")] == ["d3"]
    assert len(await store.list_deliveries(limit=3)) == 3
    assert [d.id async for d in store.iter_deliveries("suppressed")] == ["d4"]
    assert (await store.list_deliveries(status="sent"))[0].to_json()["status"] == "sent"


# ----------------------------------------------------------------------------- wake-ups
async def test_work_added_elsewhere_wakes_a_waiting_worker(open_store: OpenStore) -> None:
    worker, api = await open_store(), await open_store()
    assert await worker.claim("w1", T0, LEASE, 10) == []
    # Added between the worker's last look and its wait: the wait must not sleep through it.
    await accept(api, event("e1"), planned("d1"))
    await asyncio.wait_for(worker.wait_for_work(60), 10)
    assert [c.delivery.id for c in await worker.claim("w1", T0, LEASE, 10)] == ["d1"]

    waiting = asyncio.create_task(worker.wait_for_work(60))
    await accept(api, event("e2"), planned("d2"))
    await asyncio.wait_for(waiting, 10)
    await worker.wait_for_work(0.01)  # with nothing new, it returns when its time is up


# ----------------------------------------------------------------------------- schema
async def test_schema_is_created_and_upgrade_is_idempotent(store: Store, db_url: str) -> None:
    latest = migrations(store_backend(db_url))[-1][0]
    assert await store.schema_version() == latest
    assert await store.upgrade() == []
    again = store_for(db_url)
    await again.open()
    try:
        assert await again.schema_version() == latest
    finally:
        await again.close()


async def test_two_processes_upgrading_together_apply_each_migration_once(db_url: str) -> None:
    a, b = store_for(db_url), store_for(db_url)
    try:
        assert await a.schema_version() == 0
        results = await asyncio.gather(a.upgrade(), b.upgrade())
        every = [v for v, _ in migrations(store_backend(db_url))]
        assert sorted(results, key=len) == [[], every]
    finally:
        await a.close()
        await b.close()


async def test_a_newer_schema_is_refused(store: Store, db_url: str,
                                         set_schema_version: Callable[[int], None]) -> None:
    await store.close()
    set_schema_version(migrations(store_backend(db_url))[-1][0] + 1)
    newer = store_for(db_url)
    with pytest.raises(SchemaMismatch, match="notifier db upgrade"):
        await newer.open()
    await newer.close()


def store_backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite:") else "postgresql"


async def test_a_transaction_of_writes_alone_commits(store: Store) -> None:
    # Deliveries and dedup state written without reading anything first (as a tool might).
    async with store.transaction() as tx:
        await tx.save_dedup("k", DedupState(T0 + LEASE, 0, None))
    async with store.transaction() as tx:
        assert await tx.lock_dedups(["k", "other"]) == {"k": DedupState(T0 + LEASE, 0, None), "other": None}
        assert await tx.insert_events([(event("e1"), T0, None), (event("e1"), T0, None)]) == [True, False]
