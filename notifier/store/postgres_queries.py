"""The SQL of the PostgreSQL store, in one place, and how its rows become port objects.

Each state change of a delivery is one statement: data-modifying CTEs update the
delivery and write its attempt (and its thread) together, in one round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg.rows import TupleRow

from notifier.core.events import Priority
from notifier.store.base import Delivery
from notifier.store.partition import partition_sql

__all__ = ["CLAIM", "COMPLETE", "DELIVERY_COLS", "FAIL", "NEXT_DUE_MINE", "RENEW", "delivery", "utc"]

DELIVERY_COLS = (
    "id, event_id, route, channel, status, priority, attempts, created_at, updated_at, "
    "next_attempt_at, first_attempt_at, sent_at, last_error, ref, folded, dedup_key, keywords, "
    "thread_key, progress, claimed_by, lease_until"
)
_D_COLS = ", ".join("d." + c.strip() for c in DELIVERY_COLS.split(","))
# This worker's partition (see notifier.store.partition); NULL count: no partition.
_MINE = partition_sql("postgresql", "%(count)s::int")

# Two index scans that stop after ``limit`` rows (a backlog is never sorted whole): due
# pending deliveries, and claims whose lease expired (a worker died). Both are ranked by
# when they were due: a dead worker's claims were due before anything pending now, so they
# go first rather than behind a backlog.
CLAIM = f"""
WITH pending AS (
    SELECT id, next_attempt_at AS due FROM deliveries
     WHERE status = 'pending' AND next_attempt_at <= %(now)s
       AND (%(channels)s::text[] IS NULL OR channel = ANY(%(channels)s::text[]))
       AND (%(count)s::int IS NULL OR {_MINE} = %(index)s::int OR next_attempt_at <= %(steal_before)s)
     ORDER BY next_attempt_at LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, coalesce(next_attempt_at, lease_until) AS due FROM deliveries
     WHERE status = 'claimed' AND lease_until < %(now)s
       AND (%(channels)s::text[] IS NULL OR channel = ANY(%(channels)s::text[]))
     ORDER BY lease_until LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) AS both_
     ORDER BY due LIMIT %(limit)s
), d AS (
    UPDATE deliveries AS x SET status = 'claimed', claimed_by = %(worker)s,
           lease_until = %(lease_until)s, updated_at = %(now)s
      FROM due WHERE x.id = due.id
    RETURNING x.*
)
SELECT {_D_COLS}, e.body, t.ref
  FROM d JOIN events e ON e.id = d.event_id
  LEFT JOIN threads t ON t.channel = d.channel AND t.thread_key = d.thread_key
 ORDER BY d.next_attempt_at
"""

# With a partition: ours first due, anyone's once overdue, expired leases.
NEXT_DUE_MINE = f"""
SELECT least(
    (SELECT next_attempt_at FROM deliveries WHERE status = 'pending' AND {_MINE} = %(index)s::int
      ORDER BY next_attempt_at LIMIT 1),
    (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending') + %(steal_after)s::interval,
    (SELECT min(lease_until) FROM deliveries WHERE status = 'claimed'))
"""

# A live worker's heartbeat: its claims stay its own while it is sending them.
RENEW = """
UPDATE deliveries SET lease_until = %(lease_until)s
 WHERE status = 'claimed' AND claimed_by = %(worker)s AND id = ANY(%(ids)s::text[])
RETURNING id
"""

# The attempt row is written by the same statement that changes the delivery.
_ATTEMPT = """
, a AS (
    INSERT INTO attempts (delivery_id, number, at, outcome, reason, duration_ms)
    SELECT id, attempts, %(now)s, %(outcome)s, %(reason)s, %(duration_ms)s FROM d
    ON CONFLICT DO NOTHING
)
"""

COMPLETE = """
WITH d AS (
    UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = %(now)s,
           updated_at = %(now)s, ref = %(ref)s, first_attempt_at = coalesce(first_attempt_at, %(now)s),
           claimed_by = NULL, lease_until = NULL, next_attempt_at = NULL
     WHERE id = %(id)s AND status IN ('claimed', 'pending')
    RETURNING id, attempts, channel, thread_key
)""" + _ATTEMPT + """
, t AS (
    INSERT INTO threads (channel, thread_key, ref, created_at)
    SELECT channel, thread_key, %(thread_ref)s::text, %(now)s FROM d
     WHERE thread_key IS NOT NULL AND %(thread_ref)s::text IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM d
"""

FAIL = """
WITH d AS (
    UPDATE deliveries SET status = %(status)s, attempts = attempts + 1, updated_at = %(now)s,
           next_attempt_at = %(at)s, last_error = %(reason)s,
           first_attempt_at = coalesce(first_attempt_at, %(now)s),
           progress = coalesce(%(progress)s, progress), claimed_by = NULL, lease_until = NULL
     WHERE id = %(id)s AND status = 'claimed' AND claimed_by = %(worker)s
    RETURNING id, attempts
)""" + _ATTEMPT + """
SELECT count(*) FROM d
"""


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def delivery(r: TupleRow) -> Delivery:
    return Delivery(
        id=r[0], event_id=r[1], route=r[2], channel=r[3], status=r[4], priority=Priority(r[5]),
        attempts=r[6], created_at=r[7].astimezone(UTC), updated_at=r[8].astimezone(UTC),
        next_attempt_at=utc(r[9]), first_attempt_at=utc(r[10]), sent_at=utc(r[11]),
        last_error=r[12], ref=r[13], folded=r[14], dedup_key=r[15],
        keywords=tuple(r[16] or ()), thread_key=r[17], progress=r[18] or {},
        claimed_by=r[19], lease_until=utc(r[20]),
    )
