"""The connector port on SQLite: named statements in the adapter's connection threads.

Outside a transaction, a change runs in a write transaction of its own (``BEGIN
IMMEDIATE`` in the writer thread, the lock waited for off the loop, as every other
write); a plain ``SELECT`` runs on the reading connection. Inside :meth:`transaction`
(or the accept transaction) statements share it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from notifier.store.connector import Connector, Row

if TYPE_CHECKING:
    from notifier.store.sqlite import SqliteStore
    from notifier.store.sqlite_tx import SqliteTransaction

__all__ = ["SqliteConnector"]


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    # Times are stored as epoch seconds, like the rest of the SQLite schema.
    return {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in (params or {}).items()}


def _rows(cur: sqlite3.Cursor) -> list[Row]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class SqliteConnector(Connector):
    """Named statements on ``store``; ``tx`` set means inside that transaction already."""

    dialect = "sqlite"

    def __init__(self, store: SqliteStore, tx: SqliteTransaction | None = None) -> None:
        self._store = store
        self._tx = tx

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        p = _params(params)

        def run(c: sqlite3.Connection) -> int:
            return c.execute(sql, p).rowcount

        if self._tx is not None:
            return cast(int, await self._tx.ask(run))
        return cast(int, await self._store.write(run))

    async def write(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        if self._tx is None:
            await self.execute(sql, params)
            return
        p = _params(params)
        # Sent to the writer thread with the transaction's next call: one thread hop less.
        self._tx.later(lambda c: c.execute(sql, p))

    async def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        p = _params(params)

        def run(c: sqlite3.Connection) -> list[Row]:
            return _rows(c.execute(sql, p))

        if self._tx is not None:
            return cast(list[Row], await self._tx.ask(run))
        if sql.lstrip()[:6].upper() == "SELECT":
            return await self._store.read(run)
        return cast(list[Row], await self._store.write(run))

    async def reclaim(self, tables: list[str]) -> bool:
        if self._tx is not None:
            raise RuntimeError("reclaim runs outside a transaction")
        if self._store.path == ":memory:":
            return True
        from notifier.store.sqlite_wal import scrub, vacuum_step

        # Free pages first, a step at a time, the lock let go between steps (and for as long
        # as a step took): other writers are never held up by more than one step. A database
        # without incremental auto-vacuum frees nothing: the loop ends at once.
        before: int | None = None
        while True:
            started = time.monotonic()
            async with self._store._lock:
                left = await self._store.retry_busy(lambda: self._store.writer.run(vacuum_step))
            if not left or (before is not None and left >= before):
                break
            before = left
            await asyncio.sleep(time.monotonic() - started)
        # Then the log, emptied once no reader needs it; tried again off the lock meanwhile.
        deadline = time.monotonic() + 10.0
        while True:
            async with self._store._lock:
                emptied = cast(bool, await self._store.retry_busy(
                    lambda: self._store.writer.run(lambda c: scrub(c, timeout=0.0))))
            if emptied or time.monotonic() >= deadline:
                return emptied
            await asyncio.sleep(0.05)

    def transaction(self) -> AbstractAsyncContextManager[Connector]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connector]:
        if self._tx is not None:
            yield self
            return
        # Not ``quick``: the callers (a purge, an erasure) make as many statements as rows found,
        # which would hold the event loop from the first to the commit (see SqliteTransaction).
        async with self._store.transaction(quick=False) as tx:
            yield SqliteConnector(self._store, cast("SqliteTransaction", tx))
