"""The connector port: the few primitives tables beyond the delivery spine are built on.

In procrastinate's shape: a backend gives a :class:`Connector` (run a statement, fetch
one row or all of them, open a transaction) and the SQL, named and written once per
dialect, lives in ``sql/<dialect>/queries/<file>.sql``::

    -- name: claim_case
    UPDATE cases SET status = 'claimed' … WHERE id = :id AND status IN ('open', 'reopened')
    RETURNING …

The logic lives above, written once for both backends (``notifier/store/cases.py``).
Parameters are passed by name (``:name`` in SQLite, ``%(name)s`` in PostgreSQL); times
are aware datetimes both ways (the SQLite connector stores them as epoch seconds, so a
column read back is converted by :func:`as_time`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["Connector", "Row", "as_time", "queries"]

Row = dict[str, Any]

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


class Connector(abc.ABC):
    """Statements on one backend. Outside a transaction each call commits on its own."""

    #: ``sqlite`` or ``postgresql``: which folder of named SQL applies.
    dialect: str

    @abc.abstractmethod
    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement; the number of rows it changed."""

    async def write(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a change whose row count nobody reads.

        Inside a transaction a backend may send it with the next statement or the commit
        (one round trip less); an error then surfaces there, and the transaction fails whole.
        """
        await self.execute(sql, params)

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run one statement (a query, or a change with ``RETURNING``); its rows by column name."""

    async def fetch_one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row of :meth:`fetch_all`, or ``None``."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connector]:
        """A connector whose statements commit together, or not at all (nested: the same one)."""

    async def reclaim(self, tables: list[str]) -> bool:
        """After personal data was deleted from ``tables``: leave no copy of it in the database files.

        Outside a transaction. Whether the backend could do all it does (SQLite: the log emptied).
        """
        return True


def as_time(value: Any) -> datetime | None:
    """A time column as an aware UTC datetime, whichever backend stored it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


@lru_cache(maxsize=32)
def queries(dialect: str, name: str) -> Mapping[str, str]:
    """The named statements of ``sql/<dialect>/queries/<name>.sql``, read once."""
    text = (resources.files("notifier.store") / "sql" / dialect / "queries" / f"{name}.sql").read_text("utf-8")
    parts = _NAME.split(text)
    out: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for key, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        if key in out:
            raise ValueError(f"{dialect}/{name}.sql names {key!r} twice")
        out[key] = sql.strip().rstrip(";")
    return out
