"""The digest's statistics, counted by SQLite (mixed into :class:`~notifier.store.sqlite.SqliteStore`).

Every number is an aggregate computed in the database over the period's slice of the
``events_digest`` covering index (migration ``0002_digest.sql``): a day of a million
messages never comes into Python. Only the top question keys (a few hundred rows), their
examples and the first 20 support requests are read.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from notifier.core.digest import DigestStats, Health, SupportItem, Totals, excerpt, hour_buckets
from notifier.core.questions import group_questions
from notifier.store.sqlite_thread import ThreadConnection

__all__ = ["SqliteDigestQueries", "question_rows_limit"]

_T = TypeVar("_T")

#: Kinds listed in the "support requests" section (a person asked for a human).
REQUEST_KINDS = ("support_request", "contact_request", "tool_call")


def question_rows_limit(top_n: int) -> int:
    """How many distinct keys to read: enough for typo variants to find their group."""
    return max(100, top_n * 20)


class SqliteDigestQueries:
    """``digest_stats`` for SQLite; needs ``self.reader`` (the store's reading connection)."""

    reader: ThreadConnection
    path: str

    async def digest_stats(self, start: datetime, end: datetime, *, site: str | None, tz: str,
                           top_n: int, previous_start: datetime | None = None) -> DigestStats:
        """The statistics of ``[start, end)`` (and the totals of ``[previous_start, start)``)."""
        a, b = start.timestamp(), end.timestamp()
        if self.path == ":memory:":
            def everything(c: sqlite3.Connection) -> DigestStats:
                totals, previous = self._both_totals(c, a, b, site, previous_start)
                return self._assemble(c, start, end, site, tz, top_n, totals, previous)

            return await self.reader.run(everything)

        def reading(work: Callable[[sqlite3.Connection], _T]) -> _T:
            # Readers of their own, in threads: counting a busy day blocks neither the
            # event loop nor writers (WAL), and the two halves use both cores (SQLite
            # releases the GIL while it steps through the index).
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA temp_store=MEMORY")
                conn.execute("BEGIN")
                return work(conn)
            finally:
                conn.close()

        (totals, previous), stats = await asyncio.gather(
            asyncio.to_thread(reading, lambda c: self._both_totals(c, a, b, site, previous_start)),
            asyncio.to_thread(reading, lambda c: self._assemble(c, start, end, site, tz, top_n,
                                                                 Totals(), None)),
        )
        stats.totals, stats.previous = totals, previous
        stats.support_total = totals.support_requests + totals.contact_requests
        return stats

    def _both_totals(self, c: sqlite3.Connection, a: float, b: float, site: str | None,
                     previous_start: datetime | None) -> tuple[Totals, Totals | None]:
        previous = (self._totals(c, previous_start.timestamp(), a, site)
                    if previous_start is not None else None)
        return self._totals(c, a, b, site), previous

    def _assemble(self, c: sqlite3.Connection, start: datetime, end: datetime, site: str | None,
                  tz: str, top_n: int, totals: Totals, previous: Totals | None) -> DigestStats:
        a, b = start.timestamp(), end.timestamp()
        return DigestStats(
            start, end, totals, previous, self._hourly(c, start, end, site, ZoneInfo(tz)),
            self._questions(c, a, b, site, top_n), self._support(c, a, b, site),
            totals.support_requests + totals.contact_requests, self._health(c, a, b, site), site)

    @staticmethod
    def _where(a: float, b: float, site: str | None, alias: str = "") -> tuple[str, list[Any]]:
        sql = f"{alias}occurred_at >= ? AND {alias}occurred_at < ?"
        params: list[Any] = [a, b]
        if site is not None:
            sql += f" AND {alias}site = ?"
            params.append(site)
        return sql, params

    def _totals(self, c: sqlite3.Connection, a: float, b: float, site: str | None) -> Totals:
        where, params = self._where(a, b, site)
        row = c.execute(
            "SELECT count(DISTINCT conversation_id),"
            " coalesce(sum(kind = 'message' AND coalesce(role, 'user') = 'user'), 0),"
            " coalesce(sum(kind IN ('support_request', 'tool_call')), 0),"
            " coalesce(sum(kind = 'contact_request'), 0)"
            f" FROM events WHERE {where}", params).fetchone()
        where, params = self._where(a, b, site, "e.")
        # Driven by the small keyword index (CROSS JOIN keeps that order): deliveries are
        # created when the event is accepted, after it occurred (a day of clock skew allowed).
        keywords = c.execute(
            "SELECT count(DISTINCT d.event_id) FROM deliveries d CROSS JOIN events e ON e.id = d.event_id"
            f" WHERE d.keywords IS NOT NULL AND d.created_at >= ? AND {where}",
            [a - 86400, *params]).fetchone()[0]
        return Totals(row[0], row[1], row[2], row[3], keywords)

    def _hourly(self, c: sqlite3.Connection, start: datetime, end: datetime, site: str | None,
                tz: ZoneInfo) -> list[int]:
        anchor, hours = hour_buckets(start, end, tz)
        where, params = self._where(start.timestamp(), end.timestamp(), site)
        out = [0] * 24
        for bucket, n in c.execute(
            "SELECT CAST((occurred_at - ?) / 3600 AS INTEGER) AS b, count(*) FROM events"
            f" WHERE {where} AND (role IS NULL OR role != 'assistant')"
            " AND kind NOT IN ('escalation', 'acknowledgement', 'follow_up') GROUP BY b",
            [anchor, *params],
        ):
            if 0 <= bucket < len(hours):
                out[hours[bucket]] += n
        return out

    def _questions(self, c: sqlite3.Connection, a: float, b: float, site: str | None,
                   top_n: int) -> list[Any]:
        where, params = self._where(a, b, site)
        rows = c.execute(
            "SELECT question_key, count(*) AS n, min(rowid) FROM events"
            f" WHERE {where} AND kind = 'message' AND question_key IS NOT NULL AND question_key != ''"
            " GROUP BY question_key ORDER BY n DESC, question_key LIMIT ?",
            [*params, question_rows_limit(top_n)],
        ).fetchall()
        if not rows:
            return []
        ids = [r[2] for r in rows]
        examples = dict(c.execute(
            "SELECT rowid, json_extract(body, '$.message') FROM events"
            f" WHERE rowid IN ({','.join('?' * len(ids))})", ids).fetchall())
        groups = group_questions((r[0], r[1], excerpt(examples.get(r[2]) or r[0])) for r in rows)
        return groups[:top_n]

    def _support(self, c: sqlite3.Connection, a: float, b: float, site: str | None) -> list[SupportItem]:
        where, params = self._where(a, b, site)
        rows = c.execute(
            "SELECT id, kind, site, occurred_at, coalesce(json_extract(body, '$.message'),"
            " json_extract(body, '$.tool.arguments.message'), '') FROM events INDEXED BY events_digest"
            f" WHERE {where} AND kind IN ({','.join('?' * len(REQUEST_KINDS))})"
            " ORDER BY occurred_at, id LIMIT 20",
            [*params, *REQUEST_KINDS],
        ).fetchall()
        return [SupportItem(r[0], r[1], r[2], datetime.fromtimestamp(r[3], UTC), excerpt(str(r[4])))
                for r in rows]

    def _health(self, c: sqlite3.Connection, a: float, b: float, site: str | None) -> Health:
        join, cond, extra = "", "", []
        if site is not None:
            join, cond, extra = " JOIN events e ON e.id = d.event_id", " AND e.site = ?", [site]
        sent, retried = c.execute(
            "SELECT coalesce(sum(t.outcome = 'sent'), 0), coalesce(sum(t.outcome = 'retry'), 0)"
            f" FROM attempts t JOIN deliveries d ON d.id = t.delivery_id{join}"
            f" WHERE t.at >= ? AND t.at < ?{cond}", [a, b, *extra]).fetchone()
        dead = c.execute(
            f"SELECT count(*) FROM deliveries d{join} WHERE d.status = 'dead'"
            f" AND d.updated_at >= ? AND d.updated_at < ?{cond}", [a, b, *extra]).fetchone()[0]
        waiting, pending = c.execute(
            "SELECT coalesce(sum(d.status = 'dead'), 0),"
            f" coalesce(sum(d.status IN ('pending', 'claimed')), 0) FROM deliveries d{join}"
            f" WHERE d.status IN ('dead', 'pending', 'claimed'){cond}", extra).fetchone()
        return Health(sent, retried, dead, waiting, pending)
