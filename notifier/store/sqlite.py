"""The SQLite adapter: the embedded default (``sqlite:///notifier.db``), in WAL mode.

No SQLite call runs on the event loop: a writer connection and a reader connection each
live in a thread of their own (:mod:`notifier.store.sqlite_thread`), so a lock held by
another process, a slow disk or a checkpoint delays the writes waiting for it, never the
API's other requests (readers are not blocked by a writer in WAL mode). Several
processes may share the file; an immediate transaction makes a claim atomic across them.

The write lock is waited for with a short busy timeout, retried with backoff off the
loop for at most ``busy_budget`` seconds; then the caller gets
:class:`~notifier.store.base.StoreUnavailable` (the API answers 503 with
``Retry-After``). Most writes are one call into the writer thread: the whole
transaction runs there. An accept transaction, whose logic lives above the port, makes
a call only where it needs an answer; writes whose result nobody reads are sent with
the next call or the commit.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from notifier.core.events import Event, Priority
from notifier.store.base import (
    DIGEST_STALE,
    Attempt,
    Claimed,
    Completion,
    Delivery,
    DeliveryStatus,
    DigestRun,
    SchemaMismatch,
    Store,
    StoreUnavailable,
    Transaction,
    claimed,
    migrations,
)
from notifier.store.connector import Connector
from notifier.store.partition import Partition, partition_sql
from notifier.store.sqlite_connector import SqliteConnector
from notifier.store.sqlite_digest import SqliteDigestQueries
from notifier.store.sqlite_thread import StoreBusy, ThreadConnection
from notifier.store.sqlite_tx import DELIVERY_COLS as _DELIVERY_COLS
from notifier.store.sqlite_tx import SqliteTransaction, Work, in_transaction
from notifier.store.sqlite_wal import RESTART_ABOVE, Checkpointer

__all__ = ["SqliteStore"]

_T = TypeVar("_T")

#: Each wait for the write lock inside SQLite is this short (ms): the thread is then free
#: to retry after a backoff, and a lock held for long becomes a 503, not a frozen API.
BUSY_TIMEOUT_MS = 50


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None




_PRIORITIES = {p.value: p for p in Priority}


def _delivery(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
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


class SqliteStore(SqliteDigestQueries, Store):
    """SQLite storage. ``url`` is ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``.

    ``busy_budget`` is how long a write waits for a lock held by another process before
    :class:`~notifier.store.base.StoreUnavailable` is raised. ``wal_restart_above`` (bytes)
    and ``wal_idle_after`` (seconds) tune the checkpoints (see :mod:`~notifier.store.sqlite_wal`).
    """

    backend = "sqlite"

    def __init__(self, url: str, *, poll_interval: float = 0.02, busy_budget: float = 2.0,
                 wal_restart_above: int = RESTART_ABOVE, wal_idle_after: float = 1.0) -> None:
        self.url = url
        path = url.split("sqlite://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        self.path = path or ":memory:"
        self.busy_budget = busy_budget
        self._wal = {"restart_above": wal_restart_above, "idle_after": wal_idle_after}
        #: The connection every write goes through, in its own thread.
        self.writer = self._new_writer()
        # An in-memory database exists once per connection: the writer reads it too.
        self.reader = self.writer if self.path == ":memory:" else self._new_reader()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._poll = poll_interval
        #: ``PRAGMA data_version`` when work was last looked for (see :meth:`wait_for_work`).
        self._seen_version: int | None = None
        self._checkpointer: Checkpointer | None = None
        self._open = False

    # ----------------------------------------------------------------- lifecycle
    def _new_writer(self) -> ThreadConnection:
        return ThreadConnection(self._connect_writer, "sqlite-writer")

    def _new_reader(self) -> ThreadConnection:
        return ThreadConnection(self._connect_reader, "sqlite-reader")

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            # Deleted rows are overwritten with zeros, not left in free space (erasure, purge);
            # a new database gives freed pages back to the file system on an incremental vacuum.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
            # the last transactions, which is the usual trade-off of embedded WAL databases.
            conn.execute("PRAGMA synchronous=NORMAL")
            if self.path != ":memory:":
                # Checkpoints run in a thread of their own (see sqlite_wal), not on a commit.
                conn.execute("PRAGMA wal_autocheckpoint=0")
                Checkpointer.limit_journal(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_reader(self) -> sqlite3.Connection:
        conn = self._connect()
        # Readers never take the write lock in WAL mode; a longer wait only covers the
        # moment another process recovers the WAL after a crash.
        conn.execute("PRAGMA busy_timeout=2000")
        return conn

    async def open(self) -> None:
        if self._open:
            return
        if self.writer is None or self.writer.closed:
            self.writer = self._new_writer()
            self.reader = self.writer if self.path == ":memory:" else self._new_reader()
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
            self._checkpointer = Checkpointer(self.path, restart_above=int(self._wal["restart_above"]),
                                              idle_after=float(self._wal["idle_after"]))
            self._checkpointer.start()
        self._open = True

    async def close(self) -> None:
        self._open = False
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        await self.writer.close()
        await self.reader.close()

    async def schema_version(self) -> int:
        def read(c: sqlite3.Connection) -> int:
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                      " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
            return int(c.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0)

        return await self.retry_busy(lambda: self.writer.run(read))

    async def upgrade(self) -> list[int]:
        await self.schema_version()  # connects and creates schema_migrations

        def apply(c: sqlite3.Connection) -> list[int]:
            # One transaction, read under the write lock: another process may have just
            # applied some, and a process upgrading together waits and then has nothing to do.
            current = int(c.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0)
            applied = []
            for version, sql in migrations("sqlite"):
                if version <= current:
                    continue
                for statement in sql.split(";\n"):
                    if statement.strip():
                        c.execute(statement)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
                applied.append(version)
            return applied

        return await self.write(apply)  # type: ignore[no-any-return]

    # ----------------------------------------------------------------- the write lock
    async def retry_busy(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()``, again after a backoff while another process holds the write lock.

        The waiting happens here, on the loop, between short tries in the writer thread:
        after ``busy_budget`` seconds the caller gets ``StoreUnavailable``.
        """
        deadline = time.monotonic() + self.busy_budget
        pause = 0.005
        while True:
            try:
                return await call()
            except StoreBusy as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(
                        f"the database is locked by another process (waited {self.busy_budget:g} s)",
                        retry_after=1.0) from exc
                await asyncio.sleep(min(left, pause * (0.5 + random.random())))
                pause = min(pause * 2, 0.2)

    async def write(self, *work: Work) -> Any:
        """Run ``work`` in one transaction in the writer thread; the result of the last item."""
        def run(c: sqlite3.Connection) -> Any:
            out = in_transaction(c, work)
            self.after_commit(c)
            return out

        async with self._lock:
            return await self.retry_busy(lambda: self.writer.run(run))

    def after_commit(self, conn: sqlite3.Connection) -> None:
        """In the writer thread, between transactions: the checkpoint the WAL may need now."""
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.after_commit(conn)

    async def read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(connection)`` on the reading connection (WAL: never blocked by a writer)."""
        return await self.retry_busy(lambda: self.reader.run(work))

    def connector(self) -> Connector:
        return SqliteConnector(self)

    # ----------------------------------------------------------------- accept
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            tx = SqliteTransaction(self)
            try:
                yield tx
            except BaseException:
                # Shielded: a cancelled request still leaves the connection out of its transaction.
                await asyncio.shield(tx.rollback())
                raise
            await asyncio.shield(tx.commit())

    async def notify_work(self) -> None:
        self._wake.set()

    async def _data_version(self) -> int:
        return await self.writer.run(lambda c: int(c.execute("PRAGMA data_version").fetchone()[0]))

    async def wait_for_work(self, timeout: float) -> None:
        # Another process's commit changes PRAGMA data_version; this process's own commits
        # set the in-process event. Polling data_version costs a few microseconds.
        # The version is the one seen by the last claim, so a commit made between that
        # claim and this call wakes us at once instead of after ``timeout``.
        deadline = time.monotonic() + timeout
        start_version = self._seen_version
        if start_version is None:
            start_version = await self._data_version()
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
            if await self._data_version() != start_version:
                self._seen_version = None
                return

    # ----------------------------------------------------------------- worker
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
        version, due = await self.retry_busy(lambda: self.writer.run(look))
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

        self._seen_version, rows = await self.write(claim)
        # An event routed to several channels is read once per batch, not once per delivery
        # (events are immutable once loaded).
        loaded: dict[str, Claimed] = {}
        out = []
        for r in rows:
            delivery, body = _delivery(r[:21]), r[21]
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
            ((now + lease).timestamp(), worker, *delivery_ids)).fetchall())
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
            return await self.write(lambda c: [self._complete(c, item) for item in items])  # type: ignore[no-any-return]
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

        return await self.write(complete)  # type: ignore[no-any-return]

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
                (status, t, _ts(at), reason, t, orjson.dumps(progress).decode() if progress else None,
                 delivery_id, worker),
            ).fetchone()
            if row is None:
                return False
            self._attempt(c, delivery_id, row[0], now, outcome, reason, duration_ms)
            return True

        return await self.write(fail)  # type: ignore[no-any-return]

    async def release(self, worker: str, delivery_ids: list[str] | None = None) -> int:
        sql = ("UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
               " WHERE status = 'claimed' AND claimed_by = ?")
        params: list[Any] = [worker]
        if delivery_ids is not None:
            if not delivery_ids:
                return 0
            sql += f" AND id IN ({','.join('?' * len(delivery_ids))})"
            params += delivery_ids
        n: int = await self.write(lambda c: c.execute(sql, params).rowcount)
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
            return _dt(row[0])
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
        return _dt(row[0])

    # ----------------------------------------------------------------- reading
    async def get_event(self, event_id: str) -> tuple[Event, datetime] | None:
        row = await self.read(lambda c: c.execute(
            "SELECT body, received_at FROM events WHERE id = ?", (event_id,)).fetchone())
        if row is None:
            return None
        return Event.model_validate_json(row[0]), datetime.fromtimestamp(row[1], UTC)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self.read(lambda c: c.execute(
            f"SELECT {_DELIVERY_COLS} FROM deliveries WHERE id = ?", (delivery_id,)).fetchone())
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
        rows = await self.read(lambda c: c.execute(sql, (*params, limit)).fetchall())
        return [_delivery(r) for r in rows]

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        rows = await self.read(lambda c: c.execute(
            "SELECT delivery_id, number, at, outcome, reason, duration_ms FROM attempts"
            " WHERE delivery_id = ? ORDER BY number", (delivery_id,)).fetchall())
        return [Attempt(r[0], r[1], datetime.fromtimestamp(r[2], UTC), r[3], r[4], r[5]) for r in rows]

    async def count_deliveries(self) -> dict[str, int]:
        return await self.read(lambda c: {r[0]: r[1] for r in c.execute(
            "SELECT status, count(*) FROM deliveries GROUP BY status")})

    async def replay(self, now: datetime, delivery_id: str | None = None, *, all_dead: bool = False) -> list[str]:
        t = now.timestamp()
        if delivery_id is not None:
            rows = await self.write(lambda c: c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
                " next_attempt_at = ?, updated_at = ?, progress = NULL"
                " WHERE id = ? AND status IN ('dead', 'sent') RETURNING id", (t, t, delivery_id)).fetchall())
        elif all_dead:
            rows = await self.write(lambda c: c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
                " next_attempt_at = ?, updated_at = ?, progress = NULL"
                " WHERE status = 'dead' RETURNING id", (t, t)).fetchall())
        else:
            rows = []
        if rows:
            await self.notify_work()
        return [r[0] for r in rows]

    # ----------------------------------------------------------------- digests
    async def claim_digest(self, digest: str, start: datetime, end: datetime, worker: str,
                           now: datetime, *, force: bool = False) -> bool:
        def claim(c: sqlite3.Connection) -> bool:
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

        return await self.write(claim)  # type: ignore[no-any-return]

    async def finish_digest(self, digest: str, start: datetime, now: datetime, *, ok: bool,
                            detail: str = "") -> None:
        await self.write(lambda c: c.execute(
            "UPDATE digest_runs SET status = ?, finished_at = ?, detail = ?"
            " WHERE digest = ? AND period_start = ?",
            ("sent" if ok else "failed", now.timestamp(), detail, digest, start.timestamp())))

    async def last_digest(self, digest: str) -> DigestRun | None:
        row = await self.read(lambda c: c.execute(
            "SELECT digest, period_start, period_end, status, claimed_by, claimed_at, finished_at, detail"
            " FROM digest_runs WHERE digest = ? ORDER BY period_start DESC LIMIT 1", (digest,)).fetchone())
        if row is None:
            return None
        return DigestRun(row[0], _dt(row[1]) or datetime.now(UTC), _dt(row[2]) or datetime.now(UTC),
                         row[3], row[4], _dt(row[5]) or datetime.now(UTC), _dt(row[6]), row[7])
