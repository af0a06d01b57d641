"""A claim reads what it takes, not the backlog, and takes no lock for nothing (SQLite).

Claims and the idle wait's ``next_due`` run with the write lock held, by every worker,
several times a second. Left to SQLite's planner they read every pending delivery through
the ``(status, created_at)`` index and sort them: the cost grew with the backlog, and a
burst of 20,000 events made each claim milliseconds long, the API's accepts waiting
behind it. The work is counted in SQLite virtual machine steps, which do not depend on
the machine's speed or load.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from notifier.store.partition import Partition
from notifier.store.sqlite import SqliteStore
from tests.store.test_contract import LEASE, T0, accept, event, planned


async def _grow(store: SqliteStore, n: int) -> None:
    """``n`` more events, each with a pending delivery (copies of the first), due with the rest."""
    ids = [(uuid.uuid4().hex,) for _ in range(n)]

    def grow(c: sqlite3.Connection) -> None:
        event_cols = [r[1] for r in c.execute("PRAGMA table_info(events)") if r[1] != "id"]
        c.executemany(f"INSERT INTO events (id, {', '.join(event_cols)})"
                      f" SELECT ?, {', '.join(event_cols)} FROM events LIMIT 1", ids)
        c.executemany(
            "INSERT INTO deliveries (id, event_id, route, channel, status, priority, attempts, created_at,"
            " updated_at, next_attempt_at) SELECT ?1, ?1, route, channel, 'pending', priority, 0,"
            " created_at, updated_at, next_attempt_at FROM deliveries LIMIT 1", ids)

    await store.write(grow)


async def _steps(store: SqliteStore, call: object) -> int:
    """SQLite VM steps (in hundreds) that ``call()`` runs on the store's writer and reader."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    def watch(c: sqlite3.Connection) -> None:
        c.set_progress_handler(tick, 100)

    def unwatch(c: sqlite3.Connection) -> None:
        c.set_progress_handler(None, 100)

    for conn in (store.writer, store.reader):
        await conn.run(watch)
    try:
        await call()  # type: ignore[operator]
    finally:
        for conn in (store.writer, store.reader):
            await conn.run(unwatch)
    return count[0]


async def test_a_claim_costs_the_same_under_a_backlog_of_thousands(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'notifier.db'}")
    await store.open()
    try:
        for i in range(3):
            await accept(store, event(f"e{i}"), planned(uuid.uuid4().hex))
        await _grow(store, 50)
        half = Partition(0, 2)
        small = [await _steps(store, lambda: store.claim("w", T0, LEASE, 5)),
                 await _steps(store, lambda: store.claim("w", T0, LEASE, 5, partition=half)),
                 await _steps(store, lambda: store.next_due()),
                 await _steps(store, lambda: store.next_due(half))]
        await _grow(store, 5_000)
        large = [await _steps(store, lambda: store.claim("w", T0, LEASE, 5)),
                 await _steps(store, lambda: store.claim("w", T0, LEASE, 5, partition=half)),
                 await _steps(store, lambda: store.next_due()),
                 await _steps(store, lambda: store.next_due(half))]
        # A hundred times the backlog: the same work, give or take the index's depth.
        for name, before, after in zip(["claim", "claim of a partition", "next_due", "next_due of a partition"],
                                       small, large, strict=True):
            assert after <= 2 * before + 5, f"{name}: {before} -> {after} hundred steps"
    finally:
        await store.close()


async def test_a_worker_with_nothing_due_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    # Another process holds the write lock (the API in the middle of an accept): a worker
    # woken by some commit, with nothing due, answers at once instead of queueing for it.
    store = SqliteStore(f"sqlite:///{tmp_path / 'notifier.db'}", busy_budget=0.5)
    await store.open()
    other = sqlite3.connect(tmp_path / "notifier.db", isolation_level=None)
    try:
        await accept(store, event("e0"), planned(uuid.uuid4().hex))
        assert len(await store.claim("w", T0, LEASE, 5)) == 1
        other.execute("BEGIN IMMEDIATE")
        assert await store.claim("w", T0, LEASE, 5) == []
        assert await store.claim("w", T0, LEASE, 5, partition=Partition(1, 2)) == []
        other.execute("ROLLBACK")
    finally:
        other.close()
        await store.close()
