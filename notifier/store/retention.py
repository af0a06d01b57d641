"""Retention in the store: the purge's claim of a day and its batched deletes, for every backend.

Written once above the connector port (the SQL is named per dialect in
``sql/<dialect>/queries/retention.sql``). Each batch is one short transaction of at most
``batch`` rows of one kind, so the API's writes interleave with a purge of millions of
rows instead of waiting for it. What is removed, in order:

1. finished deliveries (``sent``, ``dead``, ``suppressed``) planned before the deliveries
   cutoff, with their attempts, follow-up records and the dedup keys they opened (window over);
2. events received before the events cutoff, with every delivery, attempt, dedup key and
   case link of theirs: the event's body holds the message, the transcript, the user's
   details and the tool arguments, and digests read their samples from it. An event one of
   whose deliveries is still ``pending`` (waiting for a retry) or ``claimed`` (being sent)
   is kept until it is finished;
3. cases whose last activity is older than the cases cutoff, with their actions, timers,
   follow-ups and event links;
4. dedup keys and conversation threads older than the deliveries cutoff.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from notifier.store.connector import Connector, as_time, queries

__all__ = ["PURGED_TABLES", "Cutoffs", "Purged", "RetentionStore"]

#: Every table the purge removes rows from, in the order of the report.
PURGED_TABLES = ("events", "deliveries", "attempts", "dedup", "threads", "cases", "case_actions",
                 "case_events", "case_timers", "follow_ups", "case_measures", "case_feedback")

_FINISHED = ("sent", "dead", "suppressed")


@dataclass(frozen=True)
class Cutoffs:
    """Records older than these are past their age."""

    events: datetime
    deliveries: datetime
    cases: datetime

    @classmethod
    def at(cls, now: datetime, *, events: timedelta, deliveries: timedelta, cases: timedelta) -> Cutoffs:
        """The cutoffs of a purge run at ``now`` with these ages."""
        return cls(now - events, now - deliveries, now - cases)

    @property
    def latest(self) -> datetime:
        # Dedup keys and threads refer to both events and deliveries: they go with the first.
        return max(self.events, self.deliveries)


@dataclass
class Purged:
    """Rows removed (or, on a dry run, that would be) per table; ``held``: events kept while pending."""

    rows: Counter[str] = field(default_factory=Counter)
    held: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def to_json(self) -> dict[str, Any]:
        """Counts per table, in :data:`PURGED_TABLES` order, and the events held."""
        return {"removed": {t: self.rows.get(t, 0) for t in PURGED_TABLES}, "held": self.held,
                "dry_run": self.dry_run}


def _ids(values: list[str]) -> str:
    return orjson.dumps(values).decode()


class RetentionStore:
    """The purge's statements on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "retention")

    # ----------------------------------------------------------------- the daily claim
    async def claim_day(self, day: str, worker: str, now: datetime, *, stale_after: timedelta) -> bool:
        """Whether ``worker`` is the one process to purge on ``day`` (``YYYY-MM-DD``)."""
        row = await self.db.fetch_one(self.q["claim_day"], {"day": day, "worker": worker, "now": now,
                                                           "stale": now - stale_after})
        return row is not None

    async def finish_day(self, day: str, worker: str, now: datetime, purged: Purged, *, ok: bool) -> None:
        """Record how the day's purge ended and what it removed."""
        await self.db.execute(self.q["finish_day"], {
            "day": day, "worker": worker, "now": now, "status": "done" if ok else "failed",
            "removed": orjson.dumps(purged.to_json()).decode()})

    async def removed_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Rows removed by the purges that finished in ``[start, end)``, per table (the digest's report)."""
        total: Counter[str] = Counter()
        for row in await self.db.fetch_all(self.q["finished_between"], {"start": start, "end": end}):
            data = row["removed"]
            data = data if isinstance(data, dict) else orjson.loads(data or "{}")
            total.update({k: int(v) for k, v in (data.get("removed") or {}).items() if v})
        return dict(total)

    async def last_run(self) -> dict[str, Any] | None:
        """The latest day's purge: ``day``, ``status``, who ran it, when, and what it removed."""
        row = await self.db.fetch_one(self.q["last_run"])
        if row is None:
            return None
        removed = row["removed"]
        return {"day": row["day"], "status": row["status"], "claimed_by": row["claimed_by"],
                "claimed_at": as_time(row["claimed_at"]), "finished_at": as_time(row["finished_at"]),
                "removed": removed if isinstance(removed, dict) or removed is None else orjson.loads(removed)}

    # ----------------------------------------------------------------- counting (dry run)
    async def count(self, cut: Cutoffs) -> Purged:
        """What a purge at these cutoffs would remove from the main tables (nothing is changed)."""
        out = Purged(dry_run=True)
        row = await self.db.fetch_one(self.q["count_events"], {"before": cut.events})
        assert row is not None
        out.rows["events"] = int(row["n"]) - int(row["held"] or 0)
        out.held = int(row["held"] or 0)
        for table, params in (
            ("deliveries", {"deliveries_before": cut.deliveries, "events_before": cut.events}),
            ("cases", {"before": cut.cases}),
            ("dedup", {"before": cut.latest}),
            ("threads", {"before": cut.latest}),
        ):
            found = await self.db.fetch_one(self.q[f"count_{table}"], params)
            out.rows[table] = int(found["n"]) if found else 0
        return out

    async def held(self, cut: Cutoffs) -> int:
        """Events past their age kept because one of their deliveries is pending or being sent."""
        row = await self.db.fetch_one(self.q["count_held"], {"before": cut.events})
        return int(row["n"]) if row else 0

    # ----------------------------------------------------------------- one batch each
    async def purge_deliveries(self, cut: Cutoffs, now: datetime, batch: int) -> Counter[str]:
        """Remove up to ``batch`` finished deliveries past their age, in one transaction."""
        async with self.db.transaction() as db:
            q = self.q
            ids = [r["id"] for r in await db.fetch_all(q["old_deliveries"], {"before": cut.deliveries, "n": batch})]
            return await self._drop_deliveries(db, ids, now)

    async def _drop_deliveries(self, db: Connector, ids: list[str], now: datetime) -> Counter[str]:
        out: Counter[str] = Counter()
        if not ids:
            return out
        p = {"ids": _ids(ids), "now": now}
        out["attempts"] = await db.execute(self.q["delete_attempts"], p)
        out["dedup"] = await db.execute(self.q["delete_dedup_of_deliveries"], p)
        out["follow_ups"] = await db.execute(self.q["delete_follow_ups"], p)
        out["deliveries"] = await db.execute(self.q["delete_deliveries"], p)
        return out

    async def purge_events(self, cut: Cutoffs, now: datetime, batch: int) -> tuple[Counter[str], int]:
        """Remove up to ``batch`` events past their age with their deliveries; how many were found.

        The count found tells the caller whether to go on (a batch may remove fewer than it
        found when a delivery turned pending meanwhile; those events stay, and the next
        batch no longer selects them).
        """
        async with self.db.transaction() as db:
            q = self.q
            ids = [r["id"] for r in await db.fetch_all(q["old_events"], {"before": cut.events, "n": batch})]
            if not ids:
                return Counter(), 0
            deliveries = await db.fetch_all(q["deliveries_of_events"], {"ids": _ids(ids)})
            # Selected without a lock: on PostgreSQL a replay may have made one pending since.
            busy = {d["event_id"] for d in deliveries if d["status"] not in _FINISHED}
            events = [i for i in ids if i not in busy]
            out = await self._drop_deliveries(db, [d["id"] for d in deliveries if d["event_id"] not in busy], now)
            if events:
                p = {"ids": _ids(events)}
                out["case_events"] += await db.execute(q["delete_case_links_of_events"], p)
                out["case_feedback"] += await db.execute(q["delete_feedback_of_events"], p)
                out["events"] += await db.execute(q["delete_events"], p)
            return out, len(ids)

    async def purge_cases(self, cut: Cutoffs, batch: int) -> Counter[str]:
        """Remove up to ``batch`` cases past their age with their actions, timers and links."""
        out: Counter[str] = Counter()
        async with self.db.transaction() as db:
            ids = [r["id"] for r in await db.fetch_all(self.q["old_cases"], {"before": cut.cases, "n": batch})]
            if not ids:
                return out
            p = {"ids": _ids(ids)}
            for table in ("case_timers", "case_actions", "case_events", "follow_ups", "case_measures", "case_feedback"):
                name = {"case_events": "delete_case_links", "follow_ups": "delete_case_follow_ups"}.get(
                    table, f"delete_{table}")
                out[table] += await db.execute(self.q[name], p)
            out["cases"] = await db.execute(self.q["delete_cases"], p)
        return out

    async def sweep(self, table: str, cut: Cutoffs, batch: int) -> int:
        """Remove up to ``batch`` expired ``dedup`` keys or ``threads`` older than the cutoff."""
        return await self.db.execute(self.q[f"sweep_{table}"], {"before": cut.latest, "n": batch})
