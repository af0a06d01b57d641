"""The accept transaction of the SQLite store, run in its writer thread a piece at a time.

The logic of accepting (routing, dedup) lives above the port and awaits each answer it
needs: the transaction begins (``BEGIN IMMEDIATE``, the busy lock retried off the loop)
with the first call that needs an answer, and writes whose result nobody reads wait to
go with the next call or the commit. A single event costs three calls into the thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from notifier.core.dedup import DedupState
from notifier.core.events import Event
from notifier.store.base import NewDelivery, StoreUnavailable, Transaction
from notifier.store.connector import Connector

if TYPE_CHECKING:
    from notifier.store.sqlite import SqliteStore

__all__ = ["DELIVERY_COLS", "SqliteTransaction", "Work", "in_transaction", "rollback_left_open"]

Work = Callable[[sqlite3.Connection], Any]

DELIVERY_COLS = (
    "id, event_id, route, channel, status, priority, attempts, created_at, updated_at, "
    "next_attempt_at, first_attempt_at, sent_at, last_error, ref, folded, dedup_key, keywords, "
    "thread_key, progress, claimed_by, lease_until"
)


def rollback_left_open(c: sqlite3.Connection) -> None:
    """Roll back the transaction a failed or interrupted caller left open on ``c``, if any:
    it is not the next caller's to commit (nor a script's: ``executescript`` commits first)."""
    # SQLite may have rolled back by itself already (a full disk, an I/O error); a failed
    # rollback leaves the transaction open, and the next BEGIN rolls it back (see below).
    if c.in_transaction:
        with suppress(sqlite3.Error):
            c.execute("ROLLBACK")


def in_transaction(c: sqlite3.Connection, work: Sequence[Work], *, commit: bool = True) -> Any:
    """Run ``work`` after ``BEGIN IMMEDIATE`` (and ``COMMIT``); the result of the last item.

    On any error the transaction is rolled back: nothing is half-written.
    """
    rollback_left_open(c)  # whatever an interrupted caller left open is not ours to commit
    c.execute("BEGIN IMMEDIATE")
    try:
        out = None
        for w in work:
            out = w(c)
        if commit:
            c.execute("COMMIT")
        return out
    except BaseException:
        rollback_left_open(c)
        raise


class SqliteTransaction(Transaction):
    """An accept transaction: ``BEGIN IMMEDIATE`` with the first call that needs an answer.

    ``quick``: its calls are short and few (an accept, a case's action), so an ``inline``
    store runs them on the event loop (see :mod:`~notifier.store.sqlite_thread`). Run there,
    a transaction does not let the loop go between its calls: one whose size has no bound
    (an erasure, a purge: a statement per row found) would freeze it from its first call
    to its commit, and must say ``quick=False``.
    """

    def __init__(self, store: SqliteStore, *, quick: bool = True) -> None:
        self._store = store
        self.quick = quick
        #: Writes whose result nobody reads: sent with the next call or with the commit.
        self._later: list[Work] = []
        self.begun = False

    async def ask(self, work: Work) -> Any:
        """``work(connection)`` inside this transaction (begun if it was not yet); its result."""
        later, self._later = self._later, []
        if not self.begun:
            try:
                out = await self._store.retry_busy(lambda: self._store.writer.run(
                    lambda c: in_transaction(c, [*later, work], commit=False), quick=self.quick))
            except asyncio.CancelledError:
                # The caller is gone, not its call: waiting in the store's thread, the call
                # still runs, BEGIN IMMEDIATE included. The rollback that follows (queued after
                # it) must end that transaction, or it would hold the database's write lock,
                # every other process refused, until this connection happened to write again.
                self.begun = True
                raise
            self.begun = True
            return out

        def step(c: sqlite3.Connection) -> Any:
            if not c.in_transaction:  # the connection was reset: nothing of this transaction is left
                raise StoreUnavailable("the database connection was lost during the transaction")
            for w in later:
                w(c)
            return work(c)

        return await self._store.writer.run(step, quick=self.quick)

    async def commit(self) -> None:
        later, self._later = self._later, []
        if not self.begun:
            if later:  # only writes nobody read: one call does it all (the store's lock is ours already)
                await self._store.retry_busy(lambda: self._store.writer.run(lambda c: in_transaction(c, later),
                                                                            quick=self.quick))
            return

        def finish(c: sqlite3.Connection) -> None:
            if not c.in_transaction:
                raise StoreUnavailable("the database connection was lost during the transaction")
            try:
                for w in later:
                    w(c)
                c.execute("COMMIT")
            except BaseException:
                rollback_left_open(c)
                raise
            self._store.after_commit(c)

        await self._store.writer.run(finish, quick=self.quick)

    def later(self, work: Work) -> None:
        """Queue a write whose result nobody reads: it runs before the next call or the commit."""
        self._later.append(work)

    async def rollback(self) -> None:
        self._later.clear()
        if self.begun:
            await self._store.writer.run(rollback_left_open, quick=self.quick)

    def connector(self) -> Connector:
        from notifier.store.sqlite_connector import SqliteConnector

        return SqliteConnector(self._store, self)

    async def insert_event(self, event: Event, received_at: datetime, question_key: str | None) -> bool:
        return (await self.insert_events([(event, received_at, question_key)]))[0]

    async def insert_events(self, items: list[tuple[Event, datetime, str | None]]) -> list[bool]:
        rows = []
        for event, received_at, question_key in items:
            assert event.id is not None and event.occurred_at is not None
            # The same text as orjson.dumps(event.to_json()), made in one step.
            rows.append((event.id, event.kind.value, event.site, event.conversation_id, event.role,
                         event.occurred_at.timestamp(), received_at.timestamp(), question_key,
                         event.model_dump_json(exclude_none=True)))

        def insert(c: sqlite3.Connection) -> list[bool]:
            return [c.execute(
                "INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at,"
                " question_key, body) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING", row,
            ).rowcount == 1 for row in rows]

        return await self.ask(insert)  # type: ignore[no-any-return]

    async def lock_dedup(self, key: str) -> DedupState | None:
        return (await self.lock_dedups([key]))[key]

    async def lock_dedups(self, keys: list[str]) -> dict[str, DedupState | None]:
        # The transaction is BEGIN IMMEDIATE: the whole database is locked for writing already.
        def read(c: sqlite3.Connection) -> dict[str, DedupState | None]:
            out: dict[str, DedupState | None] = {}
            for key in keys:
                row = c.execute("SELECT window_until, suppressed, first_delivery_id FROM dedup WHERE key = ?",
                                (key,)).fetchone()
                out[key] = None if row is None else DedupState(datetime.fromtimestamp(row[0], UTC), row[1], row[2])
            return out

        return await self.ask(read)  # type: ignore[no-any-return]

    async def save_dedup(self, key: str, state: DedupState) -> None:
        params = (key, state.window_until.timestamp(), state.suppressed, state.first_delivery_id)
        self._later.append(lambda c: c.execute(
            "INSERT INTO dedup (key, window_until, suppressed, first_delivery_id) VALUES (?,?,?,?)"
            " ON CONFLICT (key) DO UPDATE SET window_until = excluded.window_until,"
            " suppressed = excluded.suppressed, first_delivery_id = excluded.first_delivery_id", params))

    async def insert_deliveries(self, event_id: str, deliveries: list[NewDelivery], now: datetime) -> None:
        await self.insert_deliveries_of([(event_id, deliveries)], now)

    async def insert_deliveries_of(self, batch: list[tuple[str, list[NewDelivery]]], now: datetime) -> None:
        t = now.timestamp()
        rows = [
            (d.id, event_id, d.route, d.channel, d.status, d.priority.value, t, t,
             t if d.status == "pending" else None, d.folded, d.dedup_key,
             orjson.dumps(list(d.keywords)).decode() if d.keywords else None, d.thread_key)
            for event_id, deliveries in batch for d in deliveries
        ]
        if rows:
            self._later.append(lambda c: c.executemany(
                f"INSERT INTO deliveries ({DELIVERY_COLS}) VALUES "
                "(?,?,?,?,?,?,0,?,?,?,NULL,NULL,NULL,NULL,?,?,?,?,NULL,NULL,NULL)", rows))
