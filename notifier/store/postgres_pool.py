"""The PostgreSQL store's connections: a pool that answers fast in an outage and renews itself.

Every statement of the store takes its connection here (:meth:`Connections.connection`).
Three things psycopg_pool does not do by itself:

* **An outage, once known, costs a moment, not the pool's timeout.** ``getconn`` waits up
  to ``timeout`` for a connection; while the server is down that is every request's wait,
  and a request that waits holds one of the API's HTTP connections. While the store's
  :class:`~notifier.store.outage_log.OutageLog` says the store is down, a call waits
  only :meth:`~notifier.store.outage_log.OutageLog.patience` (a fraction of a second),
  then fails with ``StoreUnavailable`` (the API's ``503`` with ``Retry-After``). The
  first call of an outage still waits the whole timeout: nothing is known yet.
* **A server that is back is used at once.** After an outage the pool retries with a
  backoff that doubles up to minutes, so it can lag far behind a server that answers
  again: a call that times out probes the server with a connection of its own and, if it
  answers, replaces the pool. Calls keep probing while the outage lasts, so the first one
  after the server returns goes through (and says so: ``store available again``).
* **A busy pool is not down.** When every connection of the pool is in use by a call, a
  wait that runs out means load, not an outage: the call fails (``StoreUnavailable``)
  and the pool stays, rather than a second pool opening next to it past ``size`` (the
  connections the server was sized for) and closing under the calls still using it.
* **One probe at a time.** A server that does not even refuse (a host gone, packets
  dropped) lets a probe hang for the whole connect timeout: the calls share the probe
  running and wait for it no longer than their patience, so none is held for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from notifier.store.base import StoreUnavailable
from notifier.store.outage_log import OutageLog

__all__ = ["Connections", "connect", "first_line"]

_Conn = psycopg.AsyncConnection[TupleRow]
_Pool = AsyncConnectionPool[_Conn]


def first_line(exc: BaseException) -> str:
    """The first line of a driver's error (PostgreSQL adds hints and context below it)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


async def connect(url: str, timeout: float) -> _Conn:
    """A connection of its own (autocommit), outside the pool; ``StoreUnavailable`` if none."""
    try:
        # libpq counts whole seconds, at least 2 (psycopg enforces the same minimum).
        return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {first_line(exc)}") from exc


class Connections:
    """Up to ``size`` pooled connections to ``url``; a call waits up to ``timeout`` for one.

    ``outage`` is the store's outage log: while it says the store is down, a call waits
    only its patience; a call that gets a connection tells it the store answers again.
    """

    def __init__(self, url: str, *, size: int, timeout: float, outage: OutageLog) -> None:
        self.url = url
        self._size = size
        self._timeout = timeout
        self._outage = outage
        self._pool: _Pool | None = None
        self._probe: asyncio.Task[_Pool] | None = None
        #: Connections each pool (by id) has lent to calls right now: all of them lent is a busy pool.
        self._lent: dict[int, int] = {}

    @property
    def opened(self) -> bool:
        """Whether :meth:`open` succeeded and :meth:`close` has not run since."""
        return self._pool is not None

    async def open(self) -> None:
        """Open the pool and wait up to ``timeout`` for its first connection."""
        if self.opened:
            return
        pool = self._new_pool()
        try:
            await pool.open(wait=True, timeout=self._timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(f"no connection to PostgreSQL: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool (a probe under way is abandoned)."""
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            await asyncio.wait({self._probe})
        # Whichever pool is current, the probe's too: a pool left open would still be running
        # its tasks when the event loop ends (psycopg_pool's workers outlive a cancellation).
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_Conn]:
        """A pooled connection (autocommit); database outages become ``StoreUnavailable``."""
        try:
            pool, conn = await self._get()
            self._outage.answered()  # a connection the pool checked: the server answers
            self._lent[id(pool)] = self._lent.get(id(pool), 0) + 1
            try:
                async with conn:  # as pool.connection(): rolls back on error, stays open
                    yield conn
            finally:
                if (left := self._lent.pop(id(pool)) - 1) > 0:
                    self._lent[id(pool)] = left
                await pool.putconn(conn)
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no connection to PostgreSQL: {exc}") from exc
        except psycopg.OperationalError as exc:  # PoolClosed too
            raise StoreUnavailable(f"PostgreSQL is unavailable: {first_line(exc)}") from exc

    async def _get(self) -> tuple[_Pool, _Conn]:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the store is not open")
        patience = self._outage.patience(self._timeout)
        try:
            return pool, await pool.getconn(timeout=patience)
        except PoolClosed:
            if self._pool is None or self._pool is pool:
                raise
            pool = self._pool  # renewed while we waited on the old one: the server answered a probe
        except PoolTimeout:
            if self._lent.get(id(pool), 0) >= self._size:
                raise  # every connection is in use: the pool is busy, the server is not down
            pool = await self._renewed(pool, patience)
        # The server answered a probe just now: its fresh pool gets the usual wait (a
        # shorter one would fail calls queued behind a burst, and renew a working pool).
        return pool, await pool.getconn()

    def _new_pool(self) -> _Pool:
        return AsyncConnectionPool(
            self.url, min_size=1, max_size=self._size, open=False, timeout=self._timeout,
            kwargs={"autocommit": True}, check=AsyncConnectionPool.check_connection,
            name="notifier",
        )

    async def _renewed(self, stale: _Pool, patience: float) -> _Pool:
        """A fresh pool once the server answers a probe (``StoreUnavailable`` while it does not)."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._renew(stale))
            # Its error is re-raised to whoever awaits it; one nobody awaits any more is not a bug.
            self._probe.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            # shield: a call that gives up (or whose client left) leaves the probe running for the next.
            return await asyncio.wait_for(asyncio.shield(self._probe), patience)
        except TimeoutError as exc:
            raise StoreUnavailable(f"PostgreSQL did not answer a new connection within {patience:g} s") from exc

    async def _renew(self, stale: _Pool) -> _Pool:
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        if self._pool is not stale:
            return self._pool  # renewed meanwhile
        probe = await connect(self.url, self._timeout)
        await probe.close()
        fresh = self._new_pool()
        try:
            await fresh.open(wait=False)
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.close(timeout=0)
            raise
        self._pool = fresh
        # Waiting clients of the old pool move to the new one; connections in use close when
        # returned. Shielded: a close of the store meanwhile must not leave it half closed.
        await asyncio.shield(stale.close(timeout=0))
        return fresh
