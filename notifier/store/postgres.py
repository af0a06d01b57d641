"""The PostgreSQL adapter (``postgresql://…``): for several API and worker processes.

Any number of processes on any number of machines share one database. Claims lock rows
with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same delivery, and
``LISTEN``/``NOTIFY`` on ``notifier_work`` wakes idle workers when work is added. Every
state change that must be atomic is one statement (data-modifying CTEs), so it needs one
round trip and no explicit transaction. Connection problems surface as
:class:`~notifier.store.base.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

import notifier.store.postgres_queries as q
from notifier.core.dedup import DedupState
from notifier.core.events import Event
from notifier.store.base import (
    DIGEST_STALE,
    NOT_ERASED,
    STILL_DUE,
    Attempt,
    Claimed,
    Completion,
    Delivery,
    DeliveryStatus,
    DigestRun,
    NewDelivery,
    SchemaMismatch,
    Store,
    StoreUnavailable,
    Transaction,
    claimed,
    migrations,
)
from notifier.store.connector import Connector
from notifier.store.partition import Partition
from notifier.store.postgres_connector import PostgresConnector
from notifier.store.postgres_digest import PostgresDigestQueries
from notifier.store.postgres_pool import Connections, connect, first_line

__all__ = ["PostgresStore"]

CHANNEL = "notifier_work"
#: Namespaces of the two-key advisory locks (``pg_advisory_xact_lock(ns, hash)``).
_LOCK_MIGRATE = 0x6E6F7431
_LOCK_DEDUP = 0x6E6F7432

class _PgTx(Transaction):
    def __init__(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        self._c = conn

    def connector(self) -> Connector:
        return PostgresConnector(conn=self._c)

    async def insert_event(self, event: Event, received_at: datetime, question_key: str | None) -> bool:
        assert event.id is not None and event.occurred_at is not None
        cur = await self._c.execute(
            "INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at,"
            " question_key, body) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (id) DO NOTHING",
            (event.id, event.kind.value, event.site, event.conversation_id, event.role,
             event.occurred_at, received_at, question_key, Jsonb(event.to_json())),
        )
        return cur.rowcount == 1

    async def lock_dedup(self, key: str) -> DedupState | None:
        # Row locks cannot cover a key that has no row yet: an advisory lock on the key's
        # hash serialises every transaction deciding about it, present or not. The SELECT
        # after it takes a fresh snapshot, so it sees what the previous holder committed.
        await self._c.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_DEDUP, key))
        cur = await self._c.execute(
            "SELECT window_until, suppressed, first_delivery_id FROM dedup WHERE key = %s", (key,))
        row = await cur.fetchone()
        if row is None:
            return None
        return DedupState(row[0].astimezone(UTC), row[1], row[2])

    async def save_dedup(self, key: str, state: DedupState) -> None:
        await self._c.execute(
            "INSERT INTO dedup (key, window_until, suppressed, first_delivery_id) VALUES (%s,%s,%s,%s)"
            " ON CONFLICT (key) DO UPDATE SET window_until = excluded.window_until,"
            " suppressed = excluded.suppressed, first_delivery_id = excluded.first_delivery_id",
            (key, state.window_until, state.suppressed, state.first_delivery_id),
        )

    async def insert_deliveries(self, event_id: str, deliveries: list[NewDelivery], now: datetime) -> None:
        await self.insert_deliveries_of([(event_id, deliveries)], now)

    async def insert_deliveries_of(self, batch: list[tuple[str, list[NewDelivery]]], now: datetime) -> None:
        if not any(deliveries for _, deliveries in batch):
            return
        async with self._c.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO deliveries ({q.DELIVERY_COLS}) VALUES (%s,%s,%s,%s,%s,%s,0,%s,%s,%s,"
                "NULL,NULL,NULL,NULL,%s,%s,%s,%s,NULL,NULL,NULL)",
                [
                    (d.id, event_id, d.route, d.channel, d.status, d.priority.value, now, now,
                     now if d.status == "pending" else None, d.folded, d.dedup_key,
                     list(d.keywords) if d.keywords else None, d.thread_key)
                    for event_id, deliveries in batch for d in deliveries
                ],
            )


class PostgresStore(PostgresDigestQueries, Store):
    """PostgreSQL storage. ``url`` is a libpq URL, e.g. ``postgresql://user:pw@host:5432/notifier``."""

    backend = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = timeout
        # Short waits while an outage is known, a fresh pool once the server is back (postgres_pool).
        self._connections = Connections(url, size=pool_size, timeout=timeout, outage=self.outage)
        self._listener: psycopg.AsyncConnection[TupleRow] | None = None

    # ----------------------------------------------------------------- connections
    def _conn(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[TupleRow]]:
        """A pooled connection (autocommit); database outages become ``StoreUnavailable``."""
        return self._connections.connection()

    async def _connect(self) -> psycopg.AsyncConnection[TupleRow]:
        return await connect(self.url, self._timeout)

    async def _fetch(self, sql: str, params: Any = None) -> list[TupleRow]:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        if self._connections.opened:
            return
        version = await self.schema_version()
        latest = migrations("postgresql")[-1][0]
        if version == 0:
            # An empty database gets the schema, so `notifier serve` works out of the box.
            await self.upgrade()
        elif version != latest:
            raise SchemaMismatch(
                f"the database has schema version {version}, this notifier knows {latest}: "
                "run `notifier db upgrade`"
            )
        await self._connections.open()

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                await self._listener.close()
            self._listener = None
        await self._connections.close()

    async def schema_version(self) -> int:
        async with await self._connect() as conn:
            return await _version(conn)

    async def upgrade(self) -> list[int]:
        applied = []
        async with await self._connect() as conn:
            try:
                async with conn.transaction():
                    # Two processes starting together: the second waits, then sees the
                    # versions the first applied and has nothing left to do.
                    await conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_MIGRATE,))
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations"
                        " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                    current = await _version(conn)
                    for version, sql in migrations("postgresql"):
                        if version > current:
                            await conn.execute(sql.encode())
                            await conn.execute(
                                "INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                            applied.append(version)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL is unavailable: {first_line(exc)}") from exc
        return applied

    def connector(self) -> Connector:
        return PostgresConnector(pooled=self._conn)

    # ----------------------------------------------------------------- accept
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._conn() as conn, conn.transaction():
            yield _PgTx(conn)

    async def notify_work(self) -> None:
        async with self._conn() as conn:
            await conn.execute(f"NOTIFY {CHANNEL}")

    async def _listen(self) -> bool:
        """Start listening for work on a dedicated connection; ``True`` if it was not yet."""
        if self._listener is not None and not self._listener.closed:
            return False
        listener = await self._connect()
        try:
            await listener.execute(f"LISTEN {CHANNEL}")
        except psycopg.OperationalError as exc:
            await listener.close()
            raise StoreUnavailable(f"PostgreSQL is unavailable: {first_line(exc)}") from exc
        self._listener = listener
        return True

    async def wait_for_work(self, timeout: float) -> None:
        # Only workers listen (the first claim starts it): a process that listens but never
        # reads would hold back PostgreSQL's notification queue. Work added before we were
        # listening was not announced to us, so a fresh listener returns at once.
        if await self._listen():
            return
        assert self._listener is not None
        listener = self._listener
        try:
            # aclosing: the generator holds the connection's lock until it is closed.
            async with contextlib.aclosing(listener.notifies(timeout=timeout, stop_after=1)) as gen:
                async for _ in gen:
                    pass
            # A burst of notifications wakes a worker once: drop those already received.
            async with contextlib.aclosing(listener.notifies(timeout=0)) as gen:
                async for _ in gen:
                    pass
        except psycopg.OperationalError as exc:
            self._listener = None
            with contextlib.suppress(psycopg.Error):
                await listener.close()
            raise StoreUnavailable(f"PostgreSQL is unavailable: {first_line(exc)}") from exc

    # ----------------------------------------------------------------- worker
    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int,
                    channels: list[str] | None = None, partition: Partition | None = None) -> list[Claimed]:
        if (channels is not None and not channels) or limit <= 0:
            return []
        # Listen before looking, so work added after this claim's snapshot wakes us.
        await self._listen()
        rows = await self._fetch(q.CLAIM, {
            "now": now, "lease_until": now + lease, "worker": worker, "limit": limit,
            "channels": channels,
            "count": partition.count if partition is not None else None,
            "index": partition.index if partition is not None else None,
            "steal_before": now - partition.steal_after if partition is not None else None,
        })
        return [claimed(q.delivery(r[:21]), r[21], r[22]) for r in rows]

    async def renew(self, worker: str, delivery_ids: list[str], now: datetime, lease: timedelta) -> list[str]:
        if not delivery_ids:
            return []
        rows = await self._fetch(q.RENEW, {"worker": worker, "ids": delivery_ids, "lease_until": now + lease})
        return [r[0] for r in rows]

    async def complete(self, delivery_id: str, worker: str, now: datetime, *, ref: str | None,
                       thread_ref: str | None, duration_ms: float, reason: str = "") -> bool:
        # Recorded even if our lease ran out meanwhile: the channel did confirm this send.
        rows = await self._fetch(q.COMPLETE, {
            "id": delivery_id, "now": now, "ref": ref, "thread_ref": thread_ref,
            "outcome": "sent", "reason": reason, "duration_ms": duration_ms,
        })
        return bool(rows[0][0])

    async def complete_many(self, items: list[Completion]) -> list[bool]:
        # One transaction, the statements pipelined: one round trip for the whole batch.
        async with self._conn() as conn, conn.transaction():
            cursors = []
            async with conn.pipeline():
                for i in items:
                    cur = conn.cursor()
                    await cur.execute(q.COMPLETE, {
                        "id": i.delivery_id, "now": i.now, "ref": i.ref, "thread_ref": i.thread_ref,
                        "outcome": "sent", "reason": i.reason, "duration_ms": i.duration_ms,
                    })
                    cursors.append(cur)
            out = []
            for cur in cursors:
                row = await cur.fetchone()
                out.append(bool(row and row[0]))
            return out

    async def _fail(self, delivery_id: str, worker: str, now: datetime, *, status: str,
                    at: datetime | None, outcome: str, reason: str, duration_ms: float,
                    progress: dict[str, Any] | None) -> bool:
        rows = await self._fetch(q.FAIL, {
            "id": delivery_id, "worker": worker, "now": now, "status": status, "at": at,
            "outcome": outcome, "reason": reason, "duration_ms": duration_ms,
            "progress": Jsonb(progress) if progress else None,
        })
        return bool(rows[0][0])

    async def release(self, worker: str, delivery_ids: list[str] | None = None) -> int:
        if delivery_ids is not None and not delivery_ids:
            return 0
        async with self._conn() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
                " WHERE status = 'claimed' AND claimed_by = %s"
                " AND (%s::text[] IS NULL OR id = ANY(%s::text[]))",
                (worker, delivery_ids, delivery_ids))
            n = cur.rowcount
        if n:
            await self.notify_work()
        return n

    async def claim_owners(self) -> list[str]:
        rows = await self._fetch("SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'claimed'")
        return [r[0] for r in rows]

    async def next_due(self, partition: Partition | None = None) -> datetime | None:
        if partition is not None and partition.count > 1:
            rows = await self._fetch(q.NEXT_DUE_MINE, {"index": partition.index, "count": partition.count,
                                                       "steal_after": partition.steal_after})
            return q.utc(rows[0][0])
        rows = await self._fetch(
            "SELECT least((SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'),"
            " (SELECT min(lease_until) FROM deliveries WHERE status = 'claimed'))")
        return q.utc(rows[0][0])

    # ----------------------------------------------------------------- reading
    async def get_event(self, event_id: str) -> tuple[Event, datetime] | None:
        rows = await self._fetch("SELECT body, received_at FROM events WHERE id = %s", (event_id,))
        if not rows:
            return None
        return Event.model_validate(rows[0][0]), rows[0][1].astimezone(UTC)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        rows = await self._fetch(f"SELECT {q.DELIVERY_COLS} FROM deliveries WHERE id = %s", (delivery_id,))
        return q.delivery(rows[0]) if rows else None

    async def list_deliveries(self, *, status: DeliveryStatus | None = None, event_id: str | None = None,
                              channel: str | None = None, limit: int = 100) -> list[Delivery]:
        rows = await self._fetch(
            f"SELECT {q.DELIVERY_COLS} FROM deliveries"
            " WHERE (%(status)s::text IS NULL OR status = %(status)s::text)"
            " AND (%(event_id)s::text IS NULL OR event_id = %(event_id)s::text)"
            " AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)"
            " ORDER BY created_at DESC, id LIMIT %(limit)s",
            {"status": status, "event_id": event_id, "channel": channel, "limit": limit})
        return [q.delivery(r) for r in rows]

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        rows = await self._fetch(
            "SELECT delivery_id, number, at, outcome, reason, duration_ms FROM attempts"
            " WHERE delivery_id = %s ORDER BY number", (delivery_id,))
        return [Attempt(r[0], r[1], r[2].astimezone(UTC), r[3], r[4], r[5]) for r in rows]

    async def count_deliveries(self) -> dict[str, int]:
        rows = await self._fetch("SELECT status, count(*) FROM deliveries GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    async def replay(self, now: datetime, delivery_id: str | None = None, *, all_dead: bool = False) -> list[str]:
        if delivery_id is None and not all_dead:
            return []
        rows = await self._fetch(
            "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
            " next_attempt_at = %(now)s, updated_at = %(now)s, progress = NULL"
            " WHERE CASE WHEN %(id)s::text IS NULL THEN status = 'dead' AND " + STILL_DUE +
            "  ELSE id = %(id)s::text AND status IN ('dead', 'sent') AND " + NOT_ERASED + " END RETURNING id",
            {"now": now, "id": delivery_id})
        if rows:
            await self.notify_work()
        return [r[0] for r in rows]

    # ----------------------------------------------------------------- digests
    async def claim_digest(self, digest: str, start: datetime, end: datetime, worker: str,
                           now: datetime, *, force: bool = False) -> bool:
        async with self._conn() as conn, conn.transaction():
            if force:
                await conn.execute("DELETE FROM digest_runs WHERE digest = %s AND period_start = %s",
                                   (digest, start))
            # A run left 'running' by a process that died mid-digest is taken over once stale.
            cur = await conn.execute(
                "INSERT INTO digest_runs (digest, period_start, period_end, status, claimed_by, claimed_at)"
                " VALUES (%s,%s,%s,'running',%s,%s) ON CONFLICT (digest, period_start) DO UPDATE"
                " SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at"
                " WHERE digest_runs.status = 'running' AND digest_runs.claimed_at < %s",
                (digest, start, end, worker, now, now - DIGEST_STALE))
            return cur.rowcount == 1

    async def finish_digest(self, digest: str, start: datetime, now: datetime, *, ok: bool,
                            detail: str = "") -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE digest_runs SET status = %s, finished_at = %s, detail = %s"
                " WHERE digest = %s AND period_start = %s",
                ("sent" if ok else "failed", now, detail, digest, start))

    async def last_digest(self, digest: str) -> DigestRun | None:
        rows = await self._fetch(
            "SELECT digest, period_start, period_end, status, claimed_by, claimed_at, finished_at, detail"
            " FROM digest_runs WHERE digest = %s ORDER BY period_start DESC LIMIT 1", (digest,))
        if not rows:
            return None
        r = rows[0]
        return DigestRun(r[0], r[1].astimezone(UTC), r[2].astimezone(UTC), r[3], r[4],
                         r[5].astimezone(UTC), q.utc(r[6]), r[7])


async def _version(conn: psycopg.AsyncConnection[TupleRow]) -> int:
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0

