"""``serve`` and ``worker`` run SQLite's short calls on the event loop, and still never
freeze it nor reorder them (see ``notifier.store.sqlite_thread``).

Claims, group commits and accept transactions run in the loop's thread: the hop to the
store's thread and back, and that thread's wait for the GIL while it held the write lock,
cost more than the calls. What must not change: a lock held by another process is waited
for off the loop (``/healthz`` and every other request go on meanwhile), and calls still
run in the order made.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from notifier.store.sqlite import SqliteStore
from tests.store.test_contract import LEASE, T0, accept, event, planned

#: Due deliveries of a paused channel (an hour of a busy site's Slack messages, and more).
BACKLOG = 200_000


async def stalled(ticks: int = 20, every: float = 0.01) -> float:
    """The longest a timer of ``every`` seconds fired late, over ``ticks`` of them."""
    late = 0.0
    for _ in range(ticks):
        t0 = time.perf_counter()
        await asyncio.sleep(every)
        late = max(late, time.perf_counter() - t0 - every)
    return late


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "notifier.db"
    store = SqliteStore(f"sqlite:///{db}", inline=True, busy_budget=10.0)
    await store.open()
    other = sqlite3.connect(db, isolation_level=None)  # the API of another process, mid-accept
    try:
        await accept(store, event("e1"), planned("d1"))
        other.execute("BEGIN IMMEDIATE")
        claiming = asyncio.create_task(store.claim("w", T0, LEASE, 5))
        # The loop goes on turning meanwhile: timers fire on time, the claim waits.
        late = await stalled()
        assert not claiming.done()
        assert late < 0.5, f"the loop stalled {late:.3f} s while another process held the lock"
        other.execute("COMMIT")
        claimed = await asyncio.wait_for(claiming, 10)
        assert [c.delivery.id for c in claimed] == ["d1"]
        # With the lock free again, the next calls run on the loop's thread once more.
        await accept(store, event("e2"), planned("d2"))
        assert [c.delivery.id for c in await store.claim("w", T0, LEASE, 5)] == ["d2"]
    finally:
        other.close()
        await store.close()


async def test_an_accept_waits_for_a_lock_held_elsewhere_off_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "notifier.db"
    store = SqliteStore(f"sqlite:///{db}", inline=True, busy_budget=10.0)
    await store.open()
    other = sqlite3.connect(db, isolation_level=None)  # a worker of another process, mid-commit
    try:
        other.execute("BEGIN IMMEDIATE")
        accepting = asyncio.create_task(accept(store, event("e1"), planned("d1")))
        late = await stalled()
        assert not accepting.done()
        assert late < 0.5, f"the loop stalled {late:.3f} s while another process held the lock"
        other.execute("COMMIT")
        assert await asyncio.wait_for(accepting, 10)
        assert [c.delivery.id for c in await store.claim("w", T0, LEASE, 5)] == ["d1"]
    finally:
        other.close()
        await store.close()


async def test_a_short_call_does_not_pass_a_call_made_before_it(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'notifier.db'}", inline=True)
    await store.open()
    try:
        ev = event("e1")
        await accept(store, ev)  # the event alone: its delivery comes with the slow write below
        row = planned("d1")

        def slow_insert(c: sqlite3.Connection) -> None:
            time.sleep(0.3)  # a long write in the store's thread (a purge, an erasure)
            c.execute("INSERT INTO deliveries (id, event_id, route, channel, status, priority, attempts,"
                      " created_at, updated_at, next_attempt_at) VALUES (?, 'e1', ?, ?, 'pending', ?, 0, ?, ?, ?)",
                      (row.id, row.route, row.channel, row.priority.value, T0.timestamp(), T0.timestamp(),
                       T0.timestamp()))

        writing = asyncio.create_task(store.write(slow_insert))
        await asyncio.sleep(0)  # the write is queued for the thread
        # A claim made now is answered after that write: it finds the delivery it made.
        claimed = await store.claim("w", T0, LEASE, 5)
        assert writing.done()
        assert [c.delivery.id for c in claimed] == ["d1"]
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_claim_that_leaves_out_a_paused_channels_backlog_walks_past_it_off_the_loop(tmp_path: Path) -> None:
    # A channel answered 429 for an hour: its deliveries are due by the hundred thousand and
    # the worker's claims leave it out until the pause ends. Finding the other channels' work
    # walks past all of them in the due index, tens of milliseconds each time the worker wakes.
    db = tmp_path / "notifier.db"
    store = SqliteStore(f"sqlite:///{db}", inline=True)
    await store.open()
    try:
        t = T0.timestamp()
        raw = sqlite3.connect(db, isolation_level=None)  # foreign keys off: the claims never read these events
        raw.execute("BEGIN")
        raw.executemany(
            "INSERT INTO deliveries (id, event_id, route, channel, status, priority, attempts, created_at,"
            " updated_at, next_attempt_at) VALUES (?, ?, 'handoff', 'slack', 'pending', 'normal', 0, ?, ?, ?)",
            [(f"s{i}", f"x{i}", t, t, t - 60 - i * 0.001) for i in range(BACKLOG)])
        raw.execute("COMMIT")
        raw.close()
        await accept(store, event("e1"), planned("d1"))  # due after all of them

        async def claims() -> tuple[list[str], float]:
            found, took = [], 0.0
            for _ in range(5):
                started = time.perf_counter()
                found += [c.delivery.id for c in await store.claim("w", T0, LEASE, 5, ["support-email"])]
                took = max(took, time.perf_counter() - started)
                await asyncio.sleep(0.02)
            return found, took

        late, (found, took) = await asyncio.gather(stalled(ticks=100, every=0.005), claims())
        assert found == ["d1"]
        assert took > 0.02, f"claims took {took:.3f} s: the backlog is too small to prove anything"
        assert late < took / 2, f"the loop stalled {late:.3f} s while a claim walked the backlog ({took:.3f} s)"
    finally:
        await store.close()
