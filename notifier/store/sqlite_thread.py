"""A SQLite connection owned by one thread: the event loop awaits its work, never runs it.

SQLite blocks its caller: while another process holds the write lock (the busy timeout),
during a checkpoint's fsync, on a slow or full disk. Run on the event loop, any of these
would freeze every request, ``/healthz`` included. Here each connection lives in an
executor of one thread (so its calls run in the order they were made) and the loop only
awaits the result.

``notifier serve`` and ``notifier worker`` let short calls of bounded size (claims, group
commits, the statements of an accept transaction) run in the loop's own thread instead
(``inline``): each hop to the thread and back, and the thread's wait for the GIL after
every SQLite step while it held the write lock, cost more than the call itself. Such a
call never waits for a lock there: its busy timeout is 0, and a lock held by another
process sends it to the thread, which waits as for any call. What may be long stays in
the thread: digests, searches, purges, erasures, the schema's creation. What is left on
the loop is the write itself: a commit appends to the WAL without an fsync
(``synchronous=NORMAL``), the checkpoints that fsync run in a thread of their own
(:mod:`~notifier.store.sqlite_wal`) or, after a commit made on the loop, in the
connection's thread (:meth:`ThreadConnection.soon`), so only a disk that stalls plain
writes would stall the loop.

Errors of the disk and of locking are translated at this boundary into
:class:`~notifier.store.base.StoreUnavailable` (a full disk, a read-only file, an I/O
error) or :class:`StoreBusy` (another connection holds the lock: try again shortly).
A connection that became unusable (read-only, I/O error, cannot open) is closed and
opened again on the next call, so the store recovers by itself once the fault is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from notifier.store.base import StoreUnavailable

__all__ = ["StoreBusy", "ThreadConnection", "fault"]

_T = TypeVar("_T")

# Primary result codes (https://www.sqlite.org/rescode.html); extended codes keep them in the low byte.
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _FULL, _CANTOPEN, _PROTOCOL = 3, 5, 6, 8, 10, 13, 14, 15
_REOPEN = {_READONLY, _IOERR, _CANTOPEN, _PERM}
_WHY = {
    _FULL: ("the disk is full", 30.0),
    _READONLY: ("the database file is read-only", 30.0),
    _IOERR: ("disk I/O error", 10.0),
    _CANTOPEN: ("the database file cannot be opened", 10.0),
    _PERM: ("access to the database file is denied", 30.0),
}


class StoreBusy(StoreUnavailable):
    """Another connection holds the database's write lock; the same call may succeed shortly."""


def fault(exc: sqlite3.Error) -> StoreUnavailable | None:
    """What ``exc`` means for a caller, or ``None`` when it is not a fault of the disk or locks."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (_BUSY, _LOCKED, _PROTOCOL):
        return StoreBusy(f"the database is locked by another process ({exc})", retry_after=1.0,
                         reason="the database is locked by another process")
    if primary in _WHY:
        why, retry_after = _WHY[primary]
        return StoreUnavailable(f"{why} ({exc})", retry_after=retry_after, reason=why)
    return None


class ThreadConnection:
    """One SQLite connection, opened by ``connect`` in its own thread on first use.

    Calls are handed over on a queue and answered with ``call_soon_threadsafe``: about
    half the cost of ``run_in_executor``, which matters at a few calls per event. With
    ``inline``, a call marked ``quick`` runs in the caller's thread when none is queued
    before it (see the module's docstring).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str, *, inline: bool = False) -> None:
        self._connect = connect
        self._name = name
        self._conn: sqlite3.Connection | None = None
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.inline = inline
        #: Calls handed to the thread and not yet answered: a quick call may not pass them.
        self._queued = 0
        #: What an inline call handed to the thread (:meth:`soon`), queued as it returns.
        self._handed: list[Callable[[sqlite3.Connection], Any]] = []
        #: The connection's busy timeout as set (ms), and as configured by ``connect``.
        self._busy_ms: int | None = None
        self._default_busy_ms: int | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            work, loop, future = call
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._call(work)
            except BaseException as exc:  # handed to the caller, whatever it is
                error = exc
            # A loop that closed meanwhile has nobody left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._answered, future, result, error)
        self._drop()

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return work(self._conn)
        except sqlite3.Error as exc:
            translated = fault(exc)
            if translated is None:
                raise
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _REOPEN:
                self._drop()
            raise translated from exc

    def _answered(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        self._queued -= 1
        _settle(future, result, error)

    def _waiting(self, busy_ms: int | None,
                 work: Callable[[sqlite3.Connection], _T]) -> Callable[[sqlite3.Connection], _T]:
        """``work`` with the connection's busy timeout at ``busy_ms`` (``None``: as configured)."""
        def run(c: sqlite3.Connection) -> _T:
            if self._default_busy_ms is None:
                self._default_busy_ms = int(c.execute("PRAGMA busy_timeout").fetchone()[0])
            want = self._default_busy_ms if busy_ms is None else busy_ms
            if self._busy_ms != want:
                c.execute(f"PRAGMA busy_timeout={want}")
                self._busy_ms = want
            return work(c)
        return run

    def _drop(self) -> None:
        self._busy_ms = self._default_busy_ms = None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def in_thread(self) -> bool:
        """Whether the caller runs in the connection's own thread (not inline on the loop)."""
        return threading.current_thread() is self._thread

    def soon(self, work: Callable[[sqlite3.Connection], Any]) -> None:
        """From an inline call: run ``work`` in the connection's thread next; nobody waits for it.

        ``work`` is queued as the inline call returns (never two threads on the connection at
        once), before any call made after it. Its result and its errors are dropped.
        """
        self._queued += 1  # from now on quick calls go to the thread too: they cannot pass it
        self._handed.append(work)

    def _hand_over(self) -> None:
        if not self._handed:
            return
        loop = asyncio.get_running_loop()
        self._start()
        for work in self._handed:
            future: asyncio.Future[Any] = loop.create_future()
            future.cancel()  # nobody waits for it: _settle drops what it is answered
            self._calls.put((self._waiting(None, work), loop, future))
        self._handed.clear()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()

    async def run(self, work: Callable[[sqlite3.Connection], _T], *, quick: bool = False) -> _T:
        """``work(connection)``, in the connection's thread (calls run in the order made).

        ``quick``: a short call of bounded size, which an ``inline`` connection runs in
        the caller's thread unless a call is queued before it or a lock is held elsewhere.
        """
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self.inline:
            if quick and self._queued == 0:
                try:
                    with contextlib.suppress(StoreBusy):  # locked elsewhere: waited for in the thread
                        return self._call(self._waiting(0, work))
                finally:
                    self._hand_over()
            work = self._waiting(None, work)
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queued += 1
        self._calls.put((work, loop, future))
        return await future

    async def close(self) -> None:
        """Close the connection once the calls already queued have run."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._calls.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None


_Call = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():  # the caller gave up; the work was done all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
