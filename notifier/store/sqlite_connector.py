"""The connector port on SQLite: named statements on the adapter's own connection.

Outside a transaction, a change runs in a write transaction of its own (``BEGIN
IMMEDIATE`` under the adapter's lock, as every other write); a plain ``SELECT`` reads
directly. Inside :meth:`transaction` (or the accept transaction) statements share it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from notifier.store.connector import Connector, Row

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
    """Named statements on SQLite; ``conn`` set means inside a transaction already."""

    dialect = "sqlite"

    def __init__(self, *, conn: sqlite3.Connection | None = None,
                 write: Callable[[], AbstractAsyncContextManager[sqlite3.Connection]] | None = None,
                 read: Callable[[], sqlite3.Connection] | None = None) -> None:
        self._conn = conn
        self._write = write
        self._read = read

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        if self._conn is not None:
            return self._conn.execute(sql, _params(params)).rowcount
        assert self._write is not None
        async with self._write() as c:
            return c.execute(sql, _params(params)).rowcount

    async def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        if self._conn is not None:
            return _rows(self._conn.execute(sql, _params(params)))
        if self._read is not None and sql.lstrip()[:6].upper() == "SELECT":
            return _rows(self._read().execute(sql, _params(params)))
        assert self._write is not None
        async with self._write() as c:
            return _rows(c.execute(sql, _params(params)))

    def transaction(self) -> AbstractAsyncContextManager[Connector]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connector]:
        if self._conn is not None:
            yield self
            return
        assert self._write is not None
        async with self._write() as c:
            yield SqliteConnector(conn=c)
