"""What the console reads from the store, above the connector port (one code for both backends).

The SQL is named per dialect in ``store/sql/<dialect>/queries/console.sql``. Pages are
bounded (``LIMIT``/``OFFSET``): the queue of ten thousand open cases renders one page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from notifier.store.cases import Case
from notifier.store.connector import Connector, as_time, queries

__all__ = ["ChannelHealth", "ConsoleReads", "DeliveryRow", "QueuePage", "QueueRow"]

#: The queue's filters: a name in the page's tabs -> the statuses it shows.
QUEUE_FILTERS: dict[str, tuple[str, ...] | None] = {
    "active": ("open", "reopened", "claimed"),
    "open": ("open", "reopened"),
    "claimed": ("claimed",),
    "resolved": ("resolved",),
    "all": None,
}


@dataclass(frozen=True)
class QueueRow:
    """A case in the queue with how many escalation steps fired in its round."""

    case: Case
    level: int


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue and how many cases the filter holds."""

    rows: list[QueueRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as the Deliveries page lists it."""

    id: str
    event_id: str
    site: str
    route: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    ref: str | None


@dataclass(frozen=True)
class ChannelHealth:
    """How a channel fares, from its deliveries."""

    channel: str
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    in_flight: int
    pending: int
    dead: int


def _json_list(values: Iterable[str] | None) -> str | None:
    return None if values is None else orjson.dumps(sorted(values)).decode()


class ConsoleReads:
    """The console's queries on one :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "console")

    async def queue(self, *, statuses: Iterable[str] | None, sites: Iterable[str] | None, page: int,
                    per_page: int = 50) -> QueuePage:
        """Page ``page`` (from 1) of the cases in ``statuses`` of ``sites`` (``None``: any), newest first."""
        params: dict[str, Any] = {"statuses": _json_list(statuses), "sites": _json_list(sites)}
        total_row = await self.db.fetch_one(self.q["queue_count"], params)
        total = int(total_row["n"]) if total_row else 0
        page = max(1, min(page, max(1, -(-total // per_page))))
        rows = await self.db.fetch_all(self.q["queue"], {**params, "limit": per_page,
                                                         "offset": (page - 1) * per_page})
        out = [QueueRow(Case.from_row({k: v for k, v in r.items() if k != "level"}), int(r["level"]))
               for r in rows]
        return QueuePage(out, total, page, per_page)

    async def queue_version(self) -> tuple[int, float]:
        """A value that changes whenever a case opens or changes (the live queue polls it)."""
        row = await self.db.fetch_one(self.q["queue_version"])
        if row is None:
            return 0, 0.0
        at = as_time(row["at"])
        return int(row["n"]), at.timestamp() if at else 0.0

    async def deliveries(self, *, status: str | None = None, channel: str | None = None,
                         route: str | None = None, since: datetime | None = None, until: datetime | None = None,
                         sites: Iterable[str] | None = None, limit: int = 100,
                         offset: int = 0) -> list[DeliveryRow]:
        """Deliveries, newest first, filtered."""
        rows = await self.db.fetch_all(self.q["deliveries"], {
            "status": status, "channel": channel, "route": route, "since": since, "until": until,
            "sites": _json_list(sites), "limit": limit, "offset": offset})
        return [DeliveryRow(
            id=r["id"], event_id=r["event_id"], site=r["site"], route=r["route"], channel=r["channel"],
            status=r["status"], attempts=int(r["attempts"]), created_at=as_time(r["created_at"]) or datetime.min,
            sent_at=as_time(r["sent_at"]), next_attempt_at=as_time(r["next_attempt_at"]),
            last_error=r["last_error"], ref=r["ref"]) for r in rows]

    async def channel_health(self) -> dict[str, ChannelHealth]:
        """Each channel that has deliveries: last success, last error, in flight, pending, dead."""
        out = {}
        for r in await self.db.fetch_all(self.q["channel_health"]):
            error = None
            if r["last_error_at"] is not None:
                found = await self.db.fetch_one(self.q["last_error"], {"channel": r["channel"]})
                error = found["last_error"] if found else None
            out[r["channel"]] = ChannelHealth(
                r["channel"], as_time(r["last_success"]), as_time(r["last_error_at"]), error,
                int(r["in_flight"] or 0), int(r["pending"] or 0), int(r["dead"] or 0))
        return out

    async def attempts_since(self, since: datetime) -> list[tuple[datetime, str, float]]:
        """Every attempt since ``since``: when, its outcome, how long it took (ms)."""
        rows = await self.db.fetch_all(self.q["attempts_since"], {"since": since})
        return [(as_time(r["at"]) or since, r["outcome"], float(r["duration_ms"])) for r in rows]
