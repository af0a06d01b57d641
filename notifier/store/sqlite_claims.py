"""The worker's side of the SQLite store: claims, heartbeats, outcomes (mixed into
:class:`~notifier.store.sqlite.SqliteStore`).

Every one of these runs with the write lock held, by every worker, many times a second:
each reads what it takes through the partial indexes of due and leased deliveries, and a
claim with nothing due takes no lock at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from notifier.core.events import Priority
from notifier.store.base import Claimed, Completion, Delivery, claimed
from notifier.store.partition import Partition, partition_sql
from notifier.store.sqlite_thread import ThreadConnection
from notifier.store.sqlite_tx import DELIVERY_COLS as _DELIVERY_COLS

__all__ = ["SqliteClaims", "delivery_of", "time_of"]

_T = TypeVar("_T")


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def time_of(value: float | None) -> datetime | None:
    """A stored time (seconds since the epoch) as a UTC datetime; ``None`` stays ``None``."""
    return datetime.fromtimestamp(value, UTC) if value is not None else None


_PRIORITIES = {p.value: p for p in Priority}


def delivery_of(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
    """The delivery of a row read with ``DELIVERY_COLS``."""
    # Every claimed delivery passes here: positional fields and inlined conversions.
    (id_, event_id, route, channel, status, priority, attempts, created, updated, next_at, first_at, sent,
     last_error, ref, folded, dedup_key, keywords, thread_key, progress, claimed_by, lease) = row
    at = datetime.fromtimestamp
    return Delivery(
        id_, event_id, route, channel, status, _PRIORITIES.get(priority) or Priority(priority), attempts,
        at(created, UTC) if created is not None else datetime.now(UTC),
        at(updated, UTC) if updated is not None else datetime.now(UTC),
        at(next_at, UTC) if next_at is not None else None, at(first_at, UTC) if first_at is not None else None,
        at(sent, UTC) if sent is not None else None, last_error, ref, folded, dedup_key,
        tuple(orjson.loads(keywords)) if keywords else (), thread_key,
        orjson.loads(progress) if progress else {}, claimed_by, at(lease, UTC) if lease is not None else None,
    )


class SqliteClaims:
    """Claim, renew, complete, fail and release deliveries; needs the store's ``writer``,
    ``write``, ``read`` and ``retry_busy`` (see :class:`~notifier.store.sqlite.SqliteStore`)."""

    writer: ThreadConnection
    #: ``PRAGMA data_version`` when work was last looked for (see ``wait_for_work``).
    _seen_version: int | None

    if TYPE_CHECKING:
        async def write(self, *work: Callable[[sqlite3.Connection], Any], quick: bool = False) -> Any: ...

        async def read(self, work: Callable[[sqlite3.Connection], _T]) -> _T: ...

        async def retry_busy(self, call: Callable[[], Awaitable[_T]]) -> _T: ...

        async def notify_work(self) -> None: ...

    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int,
                    channels: list[str] | None = None, partition: Partition | None = None) -> list[Claimed]:
        t = now.timestamp()
        chan_sql, params = "", []
        if channels is not None:
            if not channels:
                return []
            chan_sql = f" AND channel IN ({','.join('?' * len(channels))})"
            params = list(channels)
        mine_sql, mine_params = "", []
        if partition is not None and partition.count > 1:
            # Ours when due, another partition's once overdue by steal_after (its owner died).
            mine_sql = (f" AND ({partition_sql('sqlite', partition.count)} = {int(partition.index)}"
                        " OR next_attempt_at <= ?)")
            mine_params = [t - partition.steal_after.total_seconds()]

        def look(c: sqlite3.Connection) -> tuple[int, bool]:
            # A read, outside any transaction: in WAL mode it never waits for the write lock.
            version = c.execute("PRAGMA data_version").fetchone()[0]
            due = c.execute(
                "SELECT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_due"
                f" WHERE status = 'pending' AND next_attempt_at <= ?{chan_sql}{mine_sql})"
                " OR EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_lease"
                f" WHERE status = 'claimed' AND lease_until < ?{chan_sql})",
                (t, *params, *mine_params, t, *params)).fetchone()[0]
            return version, bool(due)

        # Nothing to take: no write transaction. Every commit of another process wakes the
        # idle workers (PRAGMA data_version); with several workers, most of those wake-ups
        # find the work already claimed, and an empty claim would still queue for the lock
        # that the API's accepts need. Whatever commits after ``version`` wakes us again.
        # Leaving channels out (a lane paused by a Retry-After, or full), the walk of the due
        # index passes every due delivery of theirs: a backlog of hundreds of thousands after
        # an hour's outage, tens of milliseconds and more: not on the event loop.
        quick = channels is None
        version, due = await self.retry_busy(lambda: self.writer.run(look, quick=quick))
        if not due:
            self._seen_version = version
            return []

        def claim(c: sqlite3.Connection) -> tuple[int, list[Any]]:
            version = c.execute("PRAGMA data_version").fetchone()[0]
            # Each side walks its own partial index in order and stops at ``limit``: left to
            # itself the planner picks the (status, created_at) index, reads every pending
            # row and sorts them, milliseconds per claim under a backlog of thousands, all
            # of it with the write lock held.
            ids = [r[0] for r in c.execute(
                "UPDATE deliveries SET status = 'claimed', claimed_by = ?, lease_until = ?, updated_at = ?"
                " WHERE id IN (SELECT id FROM ("
                "  SELECT * FROM (SELECT id, next_attempt_at AS due FROM deliveries INDEXED BY deliveries_due"
                f"   WHERE status = 'pending' AND next_attempt_at <= ?{chan_sql}{mine_sql}"
                "   ORDER BY next_attempt_at LIMIT ?)"
                # A dead worker's claims rank by when they were due: before today's backlog.
                "  UNION ALL SELECT * FROM (SELECT id, coalesce(next_attempt_at, lease_until) AS due"
                "   FROM deliveries INDEXED BY deliveries_lease"
                f"   WHERE status = 'claimed' AND lease_until < ?{chan_sql} ORDER BY due LIMIT ?)"
                " ) ORDER BY due LIMIT ?)"
                " RETURNING id",
                (worker, t + lease.total_seconds(), t, t, *params, *mine_params, limit, t, *params, limit, limit),
            )]
            if not ids:
                return version, []
            return version, c.execute(
                f"SELECT {', '.join('d.' + x.strip() for x in _DELIVERY_COLS.split(','))}, e.body, t.ref"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " LEFT JOIN threads t ON t.channel = d.channel AND t.thread_key = d.thread_key"
                f" WHERE d.id IN ({','.join('?' * len(ids))}) ORDER BY d.next_attempt_at",
                ids,
            ).fetchall()

        self._seen_version, rows = await self.write(claim, quick=quick)
        # An event routed to several channels is read once per batch, not once per delivery
        # (events are immutable once loaded).
        loaded: dict[str, Claimed] = {}
        out = []
        for r in rows:
            delivery, body = delivery_of(r[:21]), r[21]
            first = loaded.get(body)
            if first is None or first.event is None:
                first = loaded[body] = claimed(delivery, body, r[22])
                out.append(first)
            else:
                out.append(Claimed(delivery, first.event, r[22]))
        return out

    async def renew(self, worker: str, delivery_ids: list[str], now: datetime, lease: timedelta) -> list[str]:
        if not delivery_ids:
            return []
        rows = await self.write(lambda c: c.execute(
            "UPDATE deliveries SET lease_until = ? WHERE status = 'claimed' AND claimed_by = ?"
            f" AND id IN ({','.join('?' * len(delivery_ids))}) RETURNING id",
            ((now + lease).timestamp(), worker, *delivery_ids)).fetchall(), quick=True)
        return [r[0] for r in rows]

    @staticmethod
    def _attempt(c: sqlite3.Connection, delivery_id: str, number: int, now: datetime,
                 outcome: str, reason: str, duration_ms: float) -> None:
        c.execute(
            "INSERT INTO attempts (delivery_id, number, at, outcome, reason, duration_ms)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (delivery_id, number, now.timestamp(), outcome, reason, duration_ms),
        )

    @classmethod
    def _complete(cls, c: sqlite3.Connection, item: Completion) -> bool:
        t = item.now.timestamp()
        # Recorded even if our lease ran out meanwhile: the channel did confirm this send.
        row = c.execute(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?,"
            " updated_at = ?, ref = ?, first_attempt_at = coalesce(first_attempt_at, ?),"
            " claimed_by = NULL, lease_until = NULL, next_attempt_at = NULL"
            " WHERE id = ? AND status IN ('claimed', 'pending') RETURNING attempts, channel, thread_key",
            (t, t, item.ref, t, item.delivery_id),
        ).fetchone()
        if row is None:
            return False
        cls._attempt(c, item.delivery_id, row[0], item.now, "sent", item.reason, item.duration_ms)
        if item.thread_ref and row[2]:
            c.execute(
                "INSERT INTO threads (channel, thread_key, ref, created_at) VALUES (?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (row[1], row[2], item.thread_ref, t),
            )
        return True

    async def complete(self, delivery_id: str, worker: str, now: datetime, *, ref: str | None,
                       thread_ref: str | None, duration_ms: float, reason: str = "") -> bool:
        return (await self.complete_many([Completion(delivery_id, worker, now, ref, thread_ref,
                                                     duration_ms, reason)]))[0]

    async def complete_many(self, items: list[Completion]) -> list[bool]:
        # One transaction for many: a commit costs more than the rows it writes.
        if len(items) < 2 or len({item.delivery_id for item in items}) < len(items):
            return await self.write(lambda c: [self._complete(c, item) for item in items],  # type: ignore[no-any-return]
                                    quick=True)
        # And two statements for many: the rows travel as one JSON array each way, instead
        # of a statement (and its Python round trip) per row and per table.
        sent = orjson.dumps([[i.delivery_id, i.now.timestamp(), i.ref] for i in items]).decode()

        def complete(c: sqlite3.Connection) -> list[bool]:
            # Recorded even if our lease ran out meanwhile: the channel did confirm this send.
            done = {r[0]: r for r in c.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = j.t,"
                " updated_at = j.t, ref = j.ref, first_attempt_at = coalesce(first_attempt_at, j.t),"
                " claimed_by = NULL, lease_until = NULL, next_attempt_at = NULL"
                # json_extract rather than ->> (SQLite 3.38): the store asks for no newer SQLite
                # than RETURNING did (3.35).
                " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS t,"
                " json_extract(value, '$[2]') AS ref FROM json_each(?)) AS j"
                " WHERE deliveries.id = j.id AND +deliveries.status IN ('claimed', 'pending')"
                " RETURNING deliveries.id, deliveries.attempts, deliveries.channel, deliveries.thread_key",
                (sent,))}
            tried = [[i.delivery_id, done[i.delivery_id][1], i.now.timestamp(), i.reason, i.duration_ms]
                     for i in items if i.delivery_id in done]
            if tried:
                c.execute(
                    "INSERT INTO attempts (delivery_id, number, at, outcome, reason, duration_ms)"
                    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
                    " json_extract(value, '$[2]'), 'sent', json_extract(value, '$[3]'), json_extract(value, '$[4]')"
                    " FROM json_each(?) WHERE true ON CONFLICT DO NOTHING",
                    (orjson.dumps(tried).decode(),))
            for item in items:
                row = done.get(item.delivery_id)
                if item.thread_ref and row is not None and row[3]:
                    c.execute("INSERT INTO threads (channel, thread_key, ref, created_at) VALUES (?,?,?,?)"
                              " ON CONFLICT DO NOTHING", (row[2], row[3], item.thread_ref, item.now.timestamp()))
            return [item.delivery_id in done for item in items]

        return await self.write(complete, quick=True)  # type: ignore[no-any-return]

    async def _fail(self, delivery_id: str, worker: str, now: datetime, *, status: str,
                    at: datetime | None, outcome: str, reason: str, duration_ms: float,
                    progress: dict[str, Any] | None) -> bool:
        t = now.timestamp()

        def fail(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, updated_at = ?,"
                " next_attempt_at = ?, last_error = ?, first_attempt_at = coalesce(first_attempt_at, ?),"
                " progress = coalesce(?, progress), claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND status = 'claimed' AND claimed_by = ? RETURNING attempts",
                (status, t, _timestamp(at), reason, t, orjson.dumps(progress).decode() if progress else None,
                 delivery_id, worker),
            ).fetchone()
            if row is None:
                return False
            self._attempt(c, delivery_id, row[0], now, outcome, reason, duration_ms)
            return True

        return await self.write(fail, quick=True)  # type: ignore[no-any-return]

    async def release(self, worker: str, delivery_ids: list[str] | None = None) -> int:
        sql = ("UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
               " WHERE status = 'claimed' AND claimed_by = ?")
        params: list[Any] = [worker]
        if delivery_ids is not None:
            if not delivery_ids:
                return 0
            sql += f" AND id IN ({','.join('?' * len(delivery_ids))})"
            params += delivery_ids
        n: int = await self.write(lambda c: c.execute(sql, params).rowcount, quick=True)
        if n:
            await self.notify_work()
        return n

    async def claim_owners(self) -> list[str]:
        return await self.read(lambda c: [r[0] for r in c.execute(
            "SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'claimed'")])

    async def next_due(self, partition: Partition | None = None) -> datetime | None:
        if partition is None or partition.count == 1:
            # The partial indexes answer each min() with their first entry (see claim).
            row = await self.read(lambda c: c.execute(
                "SELECT min(due) FROM (SELECT min(next_attempt_at) AS due FROM deliveries INDEXED BY deliveries_due"
                " WHERE status = 'pending'"
                " UNION ALL SELECT min(lease_until) FROM deliveries INDEXED BY deliveries_lease"
                " WHERE status = 'claimed')"
            ).fetchone())
            return time_of(row[0])
        # Ours first due (the index walked in order, stopping at the first of ours), anyone's
        # once overdue, and expired leases.
        row = await self.read(lambda c: c.execute(
            "SELECT min(due) FROM ("
            " SELECT * FROM (SELECT next_attempt_at AS due FROM deliveries INDEXED BY deliveries_due"
            " WHERE status = 'pending'"
            f"  AND {partition_sql('sqlite', partition.count)} = {int(partition.index)}"
            "  ORDER BY next_attempt_at LIMIT 1)"
            " UNION ALL SELECT min(next_attempt_at) + ? FROM deliveries INDEXED BY deliveries_due"
            " WHERE status = 'pending'"
            " UNION ALL SELECT min(lease_until) FROM deliveries INDEXED BY deliveries_lease"
            " WHERE status = 'claimed')",
            (partition.steal_after.total_seconds(),),
        ).fetchone())
        return time_of(row[0])
