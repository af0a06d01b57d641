"""The SQLite adapter: the embedded default (``sqlite:///notifier.db``), in WAL mode.

Calls run on the event loop's thread: SQLite answers in microseconds for this schema,
and one connection per store keeps every write serialised without threads. Several
processes may share the file (WAL, ``busy_timeout``); an immediate transaction makes a
claim atomic across them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from notifier.core.dedup import DedupState
from notifier.core.events import Event, Priority
from notifier.store.base import (
    DIGEST_STALE,
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
from notifier.store.sqlite_connector import SqliteConnector
from notifier.store.sqlite_digest import SqliteDigestQueries

__all__ = ["SqliteStore"]


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


_DELIVERY_COLS = (
    "id, event_id, route, channel, status, priority, attempts, created_at, updated_at, "
    "next_attempt_at, first_attempt_at, sent_at, last_error, ref, folded, dedup_key, keywords, "
    "thread_key, progress, claimed_by, lease_until"
)


def _delivery(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
    r = tuple(row)
    return Delivery(
        id=r[0], event_id=r[1], route=r[2], channel=r[3], status=r[4], priority=Priority(r[5]),
        attempts=r[6], created_at=_dt(r[7]) or datetime.now(UTC), updated_at=_dt(r[8]) or datetime.now(UTC),
        next_attempt_at=_dt(r[9]), first_attempt_at=_dt(r[10]), sent_at=_dt(r[11]),
        last_error=r[12], ref=r[13], folded=r[14], dedup_key=r[15],
        keywords=tuple(orjson.loads(r[16])) if r[16] else (), thread_key=r[17],
        progress=orjson.loads(r[18]) if r[18] else {}, claimed_by=r[19], lease_until=_dt(r[20]),
    )


class _SqliteTx(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def connector(self) -> Connector:
        return SqliteConnector(conn=self._c)

    async def insert_event(self, event: Event, received_at: datetime, question_key: str | None) -> bool:
        assert event.id is not None and event.occurred_at is not None
        cur = self._c.execute(
            "INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at,"
            " question_key, body) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
            (event.id, event.kind.value, event.site, event.conversation_id, event.role,
             event.occurred_at.timestamp(), received_at.timestamp(), question_key,
             orjson.dumps(event.to_json()).decode()),
        )
        return cur.rowcount == 1

    async def lock_dedup(self, key: str) -> DedupState | None:
        # The transaction is BEGIN IMMEDIATE: the whole database is locked for writing already.
        row = self._c.execute(
            "SELECT window_until, suppressed, first_delivery_id FROM dedup WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return DedupState(datetime.fromtimestamp(row[0], UTC), row[1], row[2])

    async def save_dedup(self, key: str, state: DedupState) -> None:
        self._c.execute(
            "INSERT INTO dedup (key, window_until, suppressed, first_delivery_id) VALUES (?,?,?,?)"
            " ON CONFLICT (key) DO UPDATE SET window_until = excluded.window_until,"
            " suppressed = excluded.suppressed, first_delivery_id = excluded.first_delivery_id",
            (key, state.window_until.timestamp(), state.suppressed, state.first_delivery_id),
        )

    async def insert_deliveries(self, event_id: str, deliveries: list[NewDelivery], now: datetime) -> None:
        t = now.timestamp()
        self._c.executemany(
            f"INSERT INTO deliveries ({_DELIVERY_COLS}) VALUES "
            "(?,?,?,?,?,?,0,?,?,?,NULL,NULL,NULL,NULL,?,?,?,?,NULL,NULL,NULL)",
            [
                (d.id, event_id, d.route, d.channel, d.status, d.priority.value, t, t,
                 t if d.status == "pending" else None, d.folded, d.dedup_key,
                 orjson.dumps(list(d.keywords)).decode() if d.keywords else None, d.thread_key)
                for d in deliveries
            ],
        )


class SqliteStore(SqliteDigestQueries, Store):
    """SQLite storage. ``url`` is ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``."""

    backend = "sqlite"

    def __init__(self, url: str, *, poll_interval: float = 0.02) -> None:
        self.url = url
        path = url.split("sqlite://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        self.path = path or ":memory:"
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._poll = poll_interval
        #: ``PRAGMA data_version`` when work was last looked for (see :meth:`wait_for_work`).
        self._seen_version: int | None = None
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_stop = threading.Event()

    # ----------------------------------------------------------------- lifecycle
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the store is not open")
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
        # the last transactions, which is the usual trade-off of embedded WAL databases.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def open(self) -> None:
        if self._conn is None:
            self._conn = self._connect()
        version = await self.schema_version()
        latest = migrations("sqlite")[-1][0]
        if version == 0:
            # The embedded store creates its schema on first use: nothing to administer.
            await self.upgrade()
        elif version != latest:
            raise SchemaMismatch(
                f"{self.path} has schema version {version}, this notifier knows {latest}: "
                "run `notifier db upgrade`"
            )
        if self.path != ":memory:" and self._checkpointer is None:
            # Checkpoints move the WAL into the database file and fsync it: tens of ms.
            # Run by SQLite itself they land on whichever commit crosses the threshold (an
            # API request, a delivery); here they run beside, without blocking writers.
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpoint_stop = threading.Event()
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(self._checkpoint_stop,),
                                                  name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoint_loop(self, stop: threading.Event, every: float = 1.0) -> None:
        # A thread of its own with a connection of its own: nothing can close it mid-call.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            while not stop.wait(every):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpoint_stop.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def schema_version(self) -> int:
        if self._conn is None:
            self._conn = self._connect()
        c = self._conn
        c.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                  " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        row = c.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    async def upgrade(self) -> list[int]:
        await self.schema_version()  # connects and creates schema_migrations
        applied = []
        c = self.conn
        for version, sql in migrations("sqlite"):
            c.execute("BEGIN IMMEDIATE")
            try:
                # Read under the write lock: another process may have just applied it.
                if version <= int(c.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0):
                    c.execute("ROLLBACK")
                    continue
                for statement in sql.split(";\n"):
                    if statement.strip():
                        c.execute(statement)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            applied.append(version)
        return applied

    def connector(self) -> Connector:
        return SqliteConnector(write=self._write, read=lambda: self.conn)

    # ----------------------------------------------------------------- accept
    @asynccontextmanager
    async def _write(self) -> AsyncIterator[sqlite3.Connection]:
        async with self._lock:
            c = self.conn
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"database is busy: {exc}") from exc
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            else:
                c.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write() as c:
            yield _SqliteTx(c)

    async def notify_work(self) -> None:
        self._wake.set()

    async def wait_for_work(self, timeout: float) -> None:
        # Another process's commit changes PRAGMA data_version; this process's own commits
        # set the in-process event. Polling data_version costs a few microseconds.
        # The version is the one seen by the last claim, so a commit made between that
        # claim and this call wakes us at once instead of after ``timeout``.
        deadline = time.monotonic() + timeout
        start_version = self._seen_version
        if start_version is None:
            start_version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), min(self._poll, remaining))
                self._wake.clear()
                return
            except TimeoutError:
                pass
            if self.conn.execute("PRAGMA data_version").fetchone()[0] != start_version:
                self._seen_version = None
                return

    # ----------------------------------------------------------------- worker
    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int,
                    channels: list[str] | None = None) -> list[Claimed]:
        t = now.timestamp()
        chan_sql, params = "", []
        if channels is not None:
            if not channels:
                return []
            chan_sql = f" AND channel IN ({','.join('?' * len(channels))})"
            params = list(channels)
        async with self._write() as c:
            self._seen_version = c.execute("PRAGMA data_version").fetchone()[0]
            ids = [r[0] for r in c.execute(
                "UPDATE deliveries SET status = 'claimed', claimed_by = ?, lease_until = ?, updated_at = ?"
                " WHERE id IN ("
                f"  SELECT id FROM (SELECT id, next_attempt_at AS due FROM deliveries WHERE status = 'pending'"
                f"   AND next_attempt_at <= ?{chan_sql}"
                f"   UNION ALL SELECT id, lease_until AS due FROM deliveries WHERE status = 'claimed'"
                f"   AND lease_until < ?{chan_sql}) ORDER BY due LIMIT ?)"
                " RETURNING id",
                (worker, t + lease.total_seconds(), t, t, *params, t, *params, limit),
            )]
            if not ids:
                return []
            rows = c.execute(
                f"SELECT {', '.join('d.' + x.strip() for x in _DELIVERY_COLS.split(','))}, e.body, t.ref"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " LEFT JOIN threads t ON t.channel = d.channel AND t.thread_key = d.thread_key"
                f" WHERE d.id IN ({','.join('?' * len(ids))}) ORDER BY d.next_attempt_at",
                ids,
            ).fetchall()
        return [claimed(_delivery(r[:21]), r[21], r[22]) for r in rows]

    def _attempt(self, c: sqlite3.Connection, delivery_id: str, number: int, now: datetime,
                 outcome: str, reason: str, duration_ms: float) -> None:
        c.execute(
            "INSERT INTO attempts (delivery_id, number, at, outcome, reason, duration_ms)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (delivery_id, number, now.timestamp(), outcome, reason, duration_ms),
        )

    def _complete(self, c: sqlite3.Connection, item: Completion) -> bool:
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
        self._attempt(c, item.delivery_id, row[0], item.now, "sent", item.reason, item.duration_ms)
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
        async with self._write() as c:
            return [self._complete(c, item) for item in items]

    async def reschedule(self, delivery_id: str, worker: str, now: datetime, at: datetime, *,
                         reason: str, duration_ms: float,
                         progress: dict[str, Any] | None = None) -> bool:
        t = now.timestamp()
        async with self._write() as c:
            row = c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = attempts + 1, updated_at = ?,"
                " next_attempt_at = ?, last_error = ?, first_attempt_at = coalesce(first_attempt_at, ?),"
                " progress = coalesce(?, progress), claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND status = 'claimed' AND claimed_by = ? RETURNING attempts",
                (t, at.timestamp(), reason, t, orjson.dumps(progress).decode() if progress else None,
                 delivery_id, worker),
            ).fetchone()
            if row is None:
                return False
            self._attempt(c, delivery_id, row[0], now, "retry", reason, duration_ms)
        await self.notify_work()
        return True

    async def dead(self, delivery_id: str, worker: str, now: datetime, *, reason: str,
                   duration_ms: float, outcome: Literal["retry", "permanent"] = "permanent",
                   progress: dict[str, Any] | None = None) -> bool:
        t = now.timestamp()
        async with self._write() as c:
            row = c.execute(
                "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, updated_at = ?,"
                " next_attempt_at = NULL, last_error = ?, first_attempt_at = coalesce(first_attempt_at, ?),"
                " progress = coalesce(?, progress), claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND status = 'claimed' AND claimed_by = ? RETURNING attempts",
                (t, reason, t, orjson.dumps(progress).decode() if progress else None, delivery_id, worker),
            ).fetchone()
            if row is None:
                return False
            self._attempt(c, delivery_id, row[0], now, outcome, reason, duration_ms)
        return True

    async def release(self, worker: str, delivery_ids: list[str] | None = None) -> int:
        async with self._write() as c:
            sql = ("UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
                   " WHERE status = 'claimed' AND claimed_by = ?")
            params: list[Any] = [worker]
            if delivery_ids is not None:
                if not delivery_ids:
                    return 0
                sql += f" AND id IN ({','.join('?' * len(delivery_ids))})"
                params += delivery_ids
            n = c.execute(sql, params).rowcount
        if n:
            await self.notify_work()
        return n

    async def claim_owners(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'claimed'")]

    async def next_due(self) -> datetime | None:
        row = self.conn.execute(
            "SELECT min(due) FROM (SELECT min(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'"
            " UNION ALL SELECT min(lease_until) FROM deliveries WHERE status = 'claimed')"
        ).fetchone()
        return _dt(row[0])

    # ----------------------------------------------------------------- reading
    async def get_event(self, event_id: str) -> tuple[Event, datetime] | None:
        row = self.conn.execute("SELECT body, received_at FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        return Event.model_validate_json(row[0]), datetime.fromtimestamp(row[1], UTC)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = self.conn.execute(f"SELECT {_DELIVERY_COLS} FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return _delivery(row) if row else None

    async def list_deliveries(self, *, status: DeliveryStatus | None = None, event_id: str | None = None,
                              channel: str | None = None, limit: int = 100) -> list[Delivery]:
        where, params = [], []
        for col, val in (("status", status), ("event_id", event_id), ("channel", channel)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT {_DELIVERY_COLS} FROM deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        return [_delivery(r) for r in self.conn.execute(sql, (*params, limit))]

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        return [
            Attempt(r[0], r[1], datetime.fromtimestamp(r[2], UTC), r[3], r[4], r[5])
            for r in self.conn.execute(
                "SELECT delivery_id, number, at, outcome, reason, duration_ms FROM attempts"
                " WHERE delivery_id = ? ORDER BY number", (delivery_id,))
        ]

    async def count_deliveries(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")}

    async def replay(self, now: datetime, delivery_id: str | None = None, *, all_dead: bool = False) -> list[str]:
        t = now.timestamp()
        async with self._write() as c:
            if delivery_id is not None:
                rows = c.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
                    " next_attempt_at = ?, updated_at = ?, progress = NULL"
                    " WHERE id = ? AND status IN ('dead', 'sent') RETURNING id", (t, t, delivery_id)).fetchall()
            elif all_dead:
                rows = c.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
                    " next_attempt_at = ?, updated_at = ?, progress = NULL"
                    " WHERE status = 'dead' RETURNING id", (t, t)).fetchall()
            else:
                rows = []
        if rows:
            await self.notify_work()
        return [r[0] for r in rows]

    # ----------------------------------------------------------------- digests
    async def claim_digest(self, digest: str, start: datetime, end: datetime, worker: str,
                           now: datetime, *, force: bool = False) -> bool:
        async with self._write() as c:
            if force:
                c.execute("DELETE FROM digest_runs WHERE digest = ? AND period_start = ?",
                          (digest, start.timestamp()))
            # A run left 'running' by a process that died mid-digest is taken over once stale.
            cur = c.execute(
                "INSERT INTO digest_runs (digest, period_start, period_end, status, claimed_by, claimed_at)"
                " VALUES (?,?,?,'running',?,?) ON CONFLICT (digest, period_start) DO UPDATE"
                " SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at"
                " WHERE digest_runs.status = 'running' AND digest_runs.claimed_at < ?",
                (digest, start.timestamp(), end.timestamp(), worker, now.timestamp(),
                 (now - DIGEST_STALE).timestamp()),
            )
            return cur.rowcount == 1

    async def finish_digest(self, digest: str, start: datetime, now: datetime, *, ok: bool,
                            detail: str = "") -> None:
        async with self._write() as c:
            c.execute(
                "UPDATE digest_runs SET status = ?, finished_at = ?, detail = ?"
                " WHERE digest = ? AND period_start = ?",
                ("sent" if ok else "failed", now.timestamp(), detail, digest, start.timestamp()),
            )

    async def last_digest(self, digest: str) -> DigestRun | None:
        row = self.conn.execute(
            "SELECT digest, period_start, period_end, status, claimed_by, claimed_at, finished_at, detail"
            " FROM digest_runs WHERE digest = ? ORDER BY period_start DESC LIMIT 1", (digest,)).fetchone()
        if row is None:
            return None
        return DigestRun(row[0], _dt(row[1]) or datetime.now(UTC), _dt(row[2]) or datetime.now(UTC),
                         row[3], row[4], _dt(row[5]) or datetime.now(UTC), _dt(row[6]), row[7])


