"""The digest's statistics, counted by PostgreSQL (mixed into :class:`~notifier.store.postgres.PostgresStore`).

The same sections as :mod:`notifier.store.sqlite_digest`, aggregated in the database over
the ``events_digest`` index, in one read-only, repeatable-read transaction so that every
section sees the same snapshot.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import TupleRow

from notifier.core.digest import DigestStats, Health, SupportItem, Totals, excerpt, hour_buckets
from notifier.core.questions import QuestionGroup, group_questions
from notifier.store.sqlite_digest import REQUEST_KINDS, question_rows_limit

__all__ = ["PostgresDigestQueries"]

Conn = psycopg.AsyncConnection[TupleRow]


class PostgresDigestQueries:
    """``digest_stats`` for PostgreSQL; needs ``self._conn()`` (a pooled connection)."""

    def _conn(self) -> AbstractAsyncContextManager[Conn]:  # provided by the store
        raise NotImplementedError

    async def digest_stats(self, start: datetime, end: datetime, *, site: str | None, tz: str,
                           top_n: int, previous_start: datetime | None = None) -> DigestStats:
        """The statistics of ``[start, end)`` (and the totals of ``[previous_start, start)``)."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            totals = await self._totals(conn, start, end, site)
            previous = (await self._totals(conn, previous_start, start, site)
                        if previous_start is not None else None)
            hourly = await self._hourly(conn, start, end, site, ZoneInfo(tz))
            questions = await self._questions(conn, start, end, site, top_n)
            support = await self._support(conn, start, end, site)
            health = await self._health(conn, start, end, site)
        return DigestStats(start, end, totals, previous, hourly, questions, support,
                           totals.support_requests + totals.contact_requests, health, site)

    @staticmethod
    def _where(a: datetime, b: datetime, site: str | None, alias: str = "") -> tuple[str, list[Any]]:
        sql = f"{alias}occurred_at >= %s AND {alias}occurred_at < %s"
        params: list[Any] = [a, b]
        if site is not None:
            sql += f" AND {alias}site = %s"
            params.append(site)
        return sql, params

    async def _one(self, conn: Conn, sql: str, params: list[Any]) -> tuple[Any, ...]:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
        assert row is not None
        return tuple(row)

    async def _totals(self, conn: Conn, a: datetime, b: datetime, site: str | None) -> Totals:
        where, params = self._where(a, b, site)
        row = await self._one(conn, (
            "SELECT count(DISTINCT conversation_id),"
            " count(*) FILTER (WHERE kind = 'message' AND coalesce(role, 'user') = 'user'),"
            " count(*) FILTER (WHERE kind IN ('support_request', 'tool_call')),"
            " count(*) FILTER (WHERE kind = 'contact_request')"
            f" FROM events WHERE {where}"), params)
        where, params = self._where(a, b, site, "e.")
        keywords = await self._one(conn, (
            "SELECT count(DISTINCT d.event_id) FROM deliveries d JOIN events e ON e.id = d.event_id"
            f" WHERE d.keywords IS NOT NULL AND d.created_at >= %s AND {where}"),
            [a - timedelta(days=1), *params])
        return Totals(row[0], row[1], row[2], row[3], keywords[0])

    async def _hourly(self, conn: Conn, start: datetime, end: datetime, site: str | None,
                      tz: ZoneInfo) -> list[int]:
        anchor, hours = hour_buckets(start, end, tz)
        where, params = self._where(start, end, site)
        cur = await conn.execute(
            "SELECT floor((extract(epoch FROM occurred_at) - %s) / 3600)::int AS b, count(*)"
            f" FROM events WHERE {where} AND (role IS NULL OR role <> 'assistant')"
            " AND kind NOT IN ('escalation', 'acknowledgement', 'follow_up') GROUP BY b",
            [anchor, *params])
        out = [0] * 24
        for bucket, n in await cur.fetchall():
            if 0 <= bucket < len(hours):
                out[hours[bucket]] += n
        return out

    async def _questions(self, conn: Conn, a: datetime, b: datetime, site: str | None,
                         top_n: int) -> list[QuestionGroup]:
        where, params = self._where(a, b, site)
        cur = await conn.execute(
            "SELECT question_key, count(*) AS n, min(id) FROM events"
            f" WHERE {where} AND kind = 'message' AND question_key IS NOT NULL AND question_key <> ''"
            " GROUP BY question_key ORDER BY n DESC, question_key LIMIT %s",
            [*params, question_rows_limit(top_n)])
        rows = await cur.fetchall()
        if not rows:
            return []
        cur = await conn.execute("SELECT id, body->>'message' FROM events WHERE id = ANY(%s)",
                                 [[r[2] for r in rows]])
        examples = {r[0]: r[1] for r in await cur.fetchall()}
        groups = group_questions((r[0], r[1], excerpt(examples.get(r[2]) or r[0])) for r in rows)
        return groups[:top_n]

    async def _support(self, conn: Conn, a: datetime, b: datetime, site: str | None) -> list[SupportItem]:
        where, params = self._where(a, b, site)
        cur = await conn.execute(
            "SELECT id, kind, site, occurred_at, coalesce(body->>'message',"
            " body#>>'{tool,arguments,message}', '') FROM events"
            f" WHERE {where} AND kind = ANY(%s) ORDER BY occurred_at, id LIMIT 20",
            [*params, list(REQUEST_KINDS)])
        return [SupportItem(r[0], r[1], r[2], r[3], excerpt(str(r[4]))) for r in await cur.fetchall()]

    async def _health(self, conn: Conn, a: datetime, b: datetime, site: str | None) -> Health:
        join, cond, extra = "", "", []
        if site is not None:
            join, cond, extra = " JOIN events e ON e.id = d.event_id", " AND e.site = %s", [site]
        sent, retried = await self._one(conn, (
            "SELECT count(*) FILTER (WHERE t.outcome = 'sent'), count(*) FILTER (WHERE t.outcome = 'retry')"
            f" FROM attempts t JOIN deliveries d ON d.id = t.delivery_id{join}"
            f" WHERE t.at >= %s AND t.at < %s{cond}"), [a, b, *extra])
        (dead,) = await self._one(conn, (
            f"SELECT count(*) FROM deliveries d{join} WHERE d.status = 'dead'"
            f" AND d.updated_at >= %s AND d.updated_at < %s{cond}"), [a, b, *extra])
        waiting, pending = await self._one(conn, (
            "SELECT count(*) FILTER (WHERE d.status = 'dead'),"
            f" count(*) FILTER (WHERE d.status IN ('pending', 'claimed')) FROM deliveries d{join}"
            f" WHERE d.status IN ('dead', 'pending', 'claimed'){cond}"), extra)
        return Health(sent, retried, dead, waiting, pending)
