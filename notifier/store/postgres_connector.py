"""The connector port on PostgreSQL: named statements on the adapter's pool.

Outside a transaction each statement takes a pooled connection (autocommit) and gives it
back; :meth:`transaction` holds one connection for the whole block. Connection problems
become :class:`~notifier.store.base.StoreUnavailable` through the adapter's pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from notifier.store.connector import Connector, Row

__all__ = ["PostgresConnector"]


def _table(name: str) -> str:
    # Names come from our own code; checked anyway, since they are joined into SQL.
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return name

_Conn = psycopg.AsyncConnection[TupleRow]


async def _run(conn: _Conn, sql: str, params: Mapping[str, Any] | None) -> tuple[int, list[Row]]:
    cur = await conn.execute(sql, dict(params or {}))
    if cur.description is None:
        return cur.rowcount, []
    names = [d.name for d in cur.description]
    return cur.rowcount, [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


class PostgresConnector(Connector):
    """Named statements on PostgreSQL; ``conn`` set means inside a transaction already."""

    dialect = "postgresql"

    def __init__(self, *, conn: _Conn | None = None,
                 pooled: Callable[[], AbstractAsyncContextManager[_Conn]] | None = None) -> None:
        self._conn = conn
        self._pooled = pooled

    async def _call(self, sql: str, params: Mapping[str, Any] | None) -> tuple[int, list[Row]]:
        if self._conn is not None:
            return await _run(self._conn, sql, params)
        assert self._pooled is not None
        async with self._pooled() as conn:
            return await _run(conn, sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return (await self._call(sql, params))[0]

    async def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return (await self._call(sql, params))[1]

    async def reclaim(self, tables: list[str]) -> bool:
        # VACUUM (outside a transaction) removes the dead rows, so neither a dump nor a
        # reader of the table pages meets them; the server's WAL and base backups are the
        # DBA's to expire (docs/privacy.md).
        if self._conn is not None:
            raise RuntimeError("reclaim runs outside a transaction")
        assert self._pooled is not None
        async with self._pooled() as conn:
            await conn.execute("VACUUM " + ", ".join(_table(t) for t in tables))
        return True

    def transaction(self) -> AbstractAsyncContextManager[Connector]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connector]:
        if self._conn is not None:
            yield self
            return
        assert self._pooled is not None
        async with self._pooled() as conn, conn.transaction():
            yield PostgresConnector(conn=conn)
