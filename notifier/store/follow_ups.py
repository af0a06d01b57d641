"""Follow-ups in the store: written once, above the connector port, for every backend.

A follow-up is a delivery (route ``follow-up``) plus one ``follow_ups`` row naming the
action it tells; the delivery row gives it the queue, the retries and the dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from notifier.core.cases import Action
from notifier.core.follow_up import CaseState
from notifier.store.connector import Connector, Row, as_time, queries

__all__ = ["FollowUpStore", "StoredFollowUp", "StoredTarget"]


@dataclass(frozen=True)
class StoredFollowUp:
    """The action a follow-up delivery tells, and its case as it stands now."""

    case: CaseState
    action: Action
    actor: str
    via: str
    at: datetime
    note: str | None
    locale: str | None


@dataclass(frozen=True)
class StoredTarget:
    """One delivery that carried the case's alert on a channel."""

    delivery_id: str
    route: str
    status: str
    ref: str | None
    thread_ref: str | None
    priority: str
    folded: int
    keywords: tuple[str, ...]
    #: The event as stored (JSON text or, on PostgreSQL, already a dict).
    body: str | dict[str, Any]


def _state(case_id: str, r: Row, status_key: str, note_key: str) -> CaseState:
    return CaseState(id=case_id, status=r[status_key], claimed_by=r["claimed_by"], claimed_at=as_time(r["claimed_at"]),
                     resolved_by=r["resolved_by"], resolved_at=as_time(r["resolved_at"]), note=r[note_key],
                     round=r["round"])


def _keywords(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(orjson.loads(value) if isinstance(value, str | bytes) else value)


class FollowUpStore:
    """Follow-up rows and what the worker reads to send them, on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "follow_ups")

    async def carriers(self, case_id: str) -> list[str]:
        """The channels that carried the case's alert (and may still show it)."""
        return [r["channel"] for r in await self.db.fetch_all(self.q["carriers"], {"case_id": case_id})]

    async def record(self, delivery_ids: list[str], *, case_id: str, action: Action, actor: str, via: str,
                     now: datetime, note: str | None) -> None:
        """Say which action the follow-up deliveries ``delivery_ids`` tell."""
        if delivery_ids:
            await self.db.write(self.q["record"], {
                "rows": orjson.dumps([{"delivery_id": d} for d in delivery_ids]).decode(), "case_id": case_id,
                "action": action, "actor": actor, "via": via, "now": now, "note": note})

    async def get(self, delivery_id: str) -> StoredFollowUp | None:
        """The action a follow-up delivery tells (``None``: not a follow-up)."""
        r = await self.db.fetch_one(self.q["get"], {"delivery_id": delivery_id})
        if r is None:
            return None
        at = as_time(r["at"])
        assert at is not None
        return StoredFollowUp(_state(r["case_id"], r, "case_status", "case_note"), r["action"], r["actor"],
                              r["via"], at, r["note"], r["locale"])

    async def earlier_unsent(self, delivery_id: str, case_id: str, channel: str, at: datetime) -> bool:
        """Whether an earlier follow-up of the case on ``channel`` is still to be sent."""
        row = await self.db.fetch_one(self.q["earlier_unsent"], {"delivery_id": delivery_id, "case_id": case_id,
                                                                "channel": channel, "at": at})
        return row is not None

    async def targets(self, case_id: str, channel: str) -> list[StoredTarget]:
        """The deliveries of the case's alert on ``channel``, oldest first, in any status."""
        rows = await self.db.fetch_all(self.q["targets"], {"case_id": case_id, "channel": channel})
        return [StoredTarget(r["id"], r["route"], r["status"], r["ref"], r["thread_ref"], r["priority"],
                             int(r["folded"] or 0), _keywords(r["keywords"]), r["body"]) for r in rows]

    async def posted_by(self, case_id: str, ref: str) -> str | None:
        """The channel that posted the case's message ``ref`` (``None``: none, or not one alone)."""
        rows = await self.db.fetch_all(self.q["posted_by"], {"case_id": case_id, "ref": ref})
        return str(rows[0]["channel"]) if len(rows) == 1 else None

    async def case_of_event(self, event_id: str) -> CaseState | None:
        """The case ``event_id`` belongs to, as a channel shows it."""
        r = await self.db.fetch_one(self.q["case_of_event"], {"event_id": event_id})
        return _state(r["id"], r, "status", "note") if r else None

