"""The SQLite adapter: the embedded default (``sqlite:///notifier.db``), in WAL mode.

No SQLite call waits on the event loop: a writer connection and a reader connection each
live in a thread of their own (:mod:`notifier.store.sqlite_thread`; with ``inline``, short
calls of bounded size run on the loop while the lock is free), so a lock held by another
process, a slow disk or a checkpoint delays the writes waiting for it, never the API's
other requests (readers are not blocked by a writer in WAL mode). Several
processes may share the file; an immediate transaction makes a claim atomic across them.

The write lock is waited for with a short busy timeout, retried with backoff off the
loop for at most ``busy_budget`` seconds; then the caller gets
:class:`~notifier.store.base.StoreUnavailable` (the API answers 503 with
``Retry-After``). Most writes are one call into the writer thread: the whole
transaction runs there. An accept transaction, whose logic lives above the port, makes
a call only where it needs an answer; writes whose result nobody reads are sent with
the next call or the commit. The worker's claims and outcomes are in
:mod:`notifier.store.sqlite_claims`, the digest's counts in :mod:`notifier.store.sqlite_digest`.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from notifier.core.events import Event
from notifier.core.fold import variants_of
from notifier.store.base import (
    DIGEST_STALE,
    NOT_ERASED,
    STILL_DUE,
    Attempt,
    Delivery,
    DeliveryStatus,
    DigestRun,
    SchemaMismatch,
    Store,
    StoreUnavailable,
    Transaction,
    migrations,
)
from notifier.store.connector import Connector
from notifier.store.sqlite_claims import SqliteClaims, delivery_of, time_of
from notifier.store.sqlite_connector import SqliteConnector
from notifier.store.sqlite_digest import SqliteDigestQueries
from notifier.store.sqlite_thread import StoreBusy, ThreadConnection, fault
from notifier.store.sqlite_tx import DELIVERY_COLS as _DELIVERY_COLS
from notifier.store.sqlite_tx import SqliteTransaction, Work, in_transaction
from notifier.store.sqlite_wake import WakeSockets
from notifier.store.sqlite_wal import RESTART_ABOVE, Checkpointer, existing_file

__all__ = ["SqliteStore"]

_T = TypeVar("_T")

#: Each wait for the write lock inside SQLite is this short (ms): the thread is then free
#: to retry after a backoff, and a lock held for long becomes a 503, not a frozen API.
BUSY_TIMEOUT_MS = 50

#: What a client may be told when the database file is gone from under the process.
FILE_GONE = "the database file was deleted or replaced while notifier runs"

log = structlog.get_logger("notifier.store")


def _holds_variant(text: str | None, *pieces: str) -> bool:
    """``holds_variant(text, piece, …)``: whether ``text`` holds a character outside ASCII that
    folds into a part of a piece (a subject search, :mod:`notifier.store.privacy`)."""
    return text is not None and variants_of(*pieces).found_in(text)


class SqliteStore(SqliteDigestQueries, SqliteClaims, Store):
    """SQLite storage. ``url`` is ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``.

    ``busy_budget`` is how long a write waits for a lock held by another process before
    :class:`~notifier.store.base.StoreUnavailable` is raised. ``wal_restart_above`` (bytes)
    and ``wal_idle_after`` (seconds) tune the checkpoints (see :mod:`~notifier.store.sqlite_wal`).
    ``inline``: short calls (claims, group commits, accept transactions) may run in the
    event loop's thread (see :mod:`~notifier.store.sqlite_thread`).
    """

    backend = "sqlite"

    def __init__(self, url: str, *, poll_interval: float = 0.02, busy_budget: float = 2.0,
                 wal_restart_above: int = RESTART_ABOVE, wal_idle_after: float = 1.0, inline: bool = False) -> None:
        self.url = url
        self.inline = inline
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
        #: Wake-ups from the other processes on this database (see sqlite_wake); the poll is the fallback.
        self._wakes = WakeSockets(self.path) if self.path != ":memory:" else None
        #: ``PRAGMA data_version`` when work was last looked for (see :meth:`wait_for_work`).
        self._seen_version: int | None = None
        self._checkpointer: Checkpointer | None = None
        self._open = False
        #: (device, inode) of the file the connections opened: see :meth:`file_problem`.
        self._file: tuple[int, int] | None = None
        self._file_problem_logged = False

    # ----------------------------------------------------------------- lifecycle
    def _new_writer(self) -> ThreadConnection:
        return ThreadConnection(self._connect_writer, "sqlite-writer", inline=self.inline)

    def _new_reader(self) -> ThreadConnection:
        return ThreadConnection(self._connect_reader, "sqlite-reader", inline=self.inline)

    def _connect(self, *, create: bool = True) -> sqlite3.Connection:
        target, uri = self.path, False
        if self.path != ":memory:" and not create:
            # Only the writer makes the file: a reader opening after it was deleted would
            # otherwise make a new, empty one at the path, and answer from it.
            target, uri = existing_file(self.path), True
        elif self.path != ":memory:":
            folder = Path(self.path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission, a read-only disk
                raise StoreUnavailable(f"cannot create the database's directory {folder}: {exc.strerror}",
                                       retry_after=30.0, reason="the database file cannot be opened") from exc
        try:
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000, uri=uri)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.create_function("holds_variant", 3, _holds_variant, deterministic=True)
        except sqlite3.Error as exc:
            # SQLite's "unable to open database file" does not say which: the log must.
            problem = fault(exc)
            if problem is None:
                raise
            raise type(problem)(f"{self.path}: {problem}", retry_after=problem.retry_after,
                                reason=problem.reason) from exc
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
        conn = self._connect(create=False)
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
        if self.path != ":memory:" and self._file is None:
            # Both connections on the file now: if it is deleted later, the worker still reads
            # and delivers what was accepted into it (see file_problem).
            await self.read(lambda c: c.execute("SELECT count(*) FROM schema_migrations").fetchone())
            st = os.stat(self.path)
            self._file = (st.st_dev, st.st_ino)
        self._open = True

    def file_problem(self) -> str | None:
        """Whether the file at the path is no longer the one the connections write to.

        A deleted (or replaced) database file stays open, and SQLite goes on writing to it
        without a word; what it gets is lost when the process stops, and every other process
        opens a new file at the path. A ``stat`` costs microseconds.
        """
        if self._file is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:
            return None  # not ours to judge (a permission, a stale mount): the writes say it
        if st is not None and (st.st_dev, st.st_ino) == self._file:
            return None
        if not self._file_problem_logged:
            self._file_problem_logged = True
            log.error("the database file was deleted or replaced while notifier runs: new events are refused "
                      "(what is written now would be lost when it stops); restart notifier to use the file at "
                      "the path", path=os.path.abspath(self.path), pid=os.getpid())
        return FILE_GONE

    async def close(self) -> None:
        self._open = False
        if self._wakes is not None:
            self._wakes.close()
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
                        retry_after=1.0, reason="the database is locked by another process") from exc
                await asyncio.sleep(min(left, pause * (0.5 + random.random())))
                pause = min(pause * 2, 0.2)

    async def write(self, *work: Work, quick: bool = False) -> Any:
        """Run ``work`` in one transaction in the writer thread; the result of the last item.

        ``quick``: a short transaction of bounded size (see :meth:`ThreadConnection.run`).
        """
        def run(c: sqlite3.Connection) -> Any:
            out = in_transaction(c, work)
            self.after_commit(c)
            return out

        async with self._lock:
            return await self.retry_busy(lambda: self.writer.run(run, quick=quick))

    def after_commit(self, conn: sqlite3.Connection) -> None:
        """Between transactions: the checkpoint the WAL may need now, in the writer thread.

        Checked after every commit, the log cannot outgrow its threshold by more than one
        transaction."""
        checkpointer = self._checkpointer
        if checkpointer is None or not checkpointer.wants_restart():
            return
        if self.writer.in_thread():
            checkpointer.restart(conn)
        else:
            # A commit made inline, on the loop: there the checkpoint's copy of the log and its
            # fsync would stall every request, and, with no busy timeout, a reader in the middle
            # of a statement would make it give up each time while the log grows on. Handed to
            # the thread, it runs before the calls made after it (which go to the thread until
            # then, so no second one is handed over meanwhile).
            self.writer.soon(checkpointer.restart)

    async def read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(connection)`` on the reading connection (WAL: never blocked by a writer)."""
        return await self.retry_busy(lambda: self.reader.run(work))

    def connector(self) -> Connector:
        return SqliteConnector(self)

    # ----------------------------------------------------------------- accept
    @asynccontextmanager
    async def transaction(self, *, quick: bool = True) -> AsyncIterator[Transaction]:
        """The accept transaction; ``quick=False`` for one of no bounded size (see :class:`SqliteTransaction`)."""
        if self.file_problem():
            # New events only: the worker goes on delivering those already accepted.
            raise StoreUnavailable(f"{os.path.abspath(self.path)}: {FILE_GONE}: new events are refused, "
                                   "restart notifier", retry_after=30.0, reason=FILE_GONE)
        async with self._lock:
            tx = SqliteTransaction(self, quick=quick)
            try:
                yield tx
            except BaseException:
                # Shielded: a cancelled request still leaves the connection out of its transaction.
                await asyncio.shield(tx.rollback())
                raise
            await asyncio.shield(tx.commit())

    async def notify_work(self) -> None:
        self._wake.set()
        if self._wakes is not None:
            self._wakes.notify()

    async def _data_version(self) -> int:
        return await self.writer.run(lambda c: int(c.execute("PRAGMA data_version").fetchone()[0]), quick=True)

    async def wait_for_work(self, timeout: float) -> None:
        # This process's own commits set the in-process event, and so does another process's
        # wake-up datagram (sqlite_wake). A commit by a process that sends none still changes
        # PRAGMA data_version, polled every ``poll_interval`` (a few microseconds each).
        # The version is the one seen by the last claim, so a commit made between that
        # claim and this call wakes us at once instead of after ``timeout``.
        deadline = time.monotonic() + timeout
        if self._wakes is not None:
            self._wakes.listen(self._wake.set)
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
        return delivery_of(row) if row else None

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
        return [delivery_of(r) for r in rows]

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
                " WHERE id = ? AND status IN ('dead', 'sent') AND " + NOT_ERASED + " RETURNING id",
                (t, t, delivery_id)).fetchall())
        elif all_dead:
            rows = await self.write(lambda c: c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL,"
                " next_attempt_at = ?, updated_at = ?, progress = NULL"
                " WHERE status = 'dead' AND " + STILL_DUE + " RETURNING id", (t, t)).fetchall())
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
        return DigestRun(row[0], time_of(row[1]) or datetime.now(UTC), time_of(row[2]) or datetime.now(UTC),
                         row[3], row[4], time_of(row[5]) or datetime.now(UTC), time_of(row[6]), row[7])
