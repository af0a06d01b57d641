"""Measures in the store: answer times and ratings, written once above the connector port.

A claim or a resolution writes one row per case round (``case_measures``, keyed so that a
repeated action measures nothing twice); a rated ``feedback`` event writes one row with the
case of its conversation (``case_feedback``). The digest's figures are ``GROUP BY``
aggregates over a period, per site and agent, on either backend.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from notifier.core.cases import agent_key
from notifier.core.measures import AgentRating, AnswerTimes, Group, Overdue, ResponseTimes, Satisfaction
from notifier.store.connector import Connector, as_time, queries

__all__ = ["Measure", "MeasureStore", "Rating"]


@dataclass(frozen=True)
class Measure:
    """How long one case round waited to be claimed (or resolved), and by whom it was."""

    case_id: str
    round: int
    measure: str  # claim or resolve
    site: str
    agent: str
    via: str
    opened_at: datetime
    at: datetime
    seconds: float
    business_seconds: float
    #: After the time the user was told to expect an answer.
    late: bool


@dataclass(frozen=True)
class Rating:
    """A rated feedback event, and the case identity of its conversation."""

    event_id: str
    identity: str
    site: str
    rating: int


class MeasureStore:
    """Answer times and ratings on any :class:`~notifier.store.connector.Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "measures")

    async def record(self, m: Measure) -> None:
        """Write ``m`` unless this round was already measured."""
        await self.db.write(self.q["record_measure"], {
            "case_id": m.case_id, "round": m.round, "measure": m.measure, "site": m.site, "agent": m.agent,
            "via": m.via, "opened_at": m.opened_at, "at": m.at, "seconds": m.seconds,
            "business_seconds": m.business_seconds, "late": int(m.late)})

    async def record_ratings(self, ratings: list[Rating], now: datetime) -> None:
        """Link each rating to its conversation's case (if any) and whoever answered it."""
        if ratings:
            await self.db.write(self.q["record_feedback"], {"now": now, "rows": orjson.dumps([
                {"event_id": r.event_id, "identity": r.identity, "site": r.site, "rating": r.rating}
                for r in ratings]).decode()})

    async def response_times(self, start: datetime, end: datetime, *, site: str | None, at: datetime,
                             business_hours: bool, overdue_listed: int = 10) -> ResponseTimes:
        """Claims and resolutions of ``[start, end)``, the period's resolution rate, cases overdue at ``at``."""
        span: dict[str, Any] = {"start": start, "end": end, "site": site}
        rows = await self.db.fetch_all(self.q["answer_times"], {**span, "business": business_hours})
        out = ResponseTimes(business_hours=business_hours)

        def part(r: dict[str, Any]) -> tuple[int, float | None, float | None, int]:
            return (int(r["n"]), _float(r["mean"]), _float(r["longest"]), int(r["late"] or 0))

        def of(measure: str, keep: Any = None) -> AnswerTimes:
            return AnswerTimes.of(part(r) for r in rows if r["measure"] == measure and (keep is None or keep(r)))

        out.claimed, out.resolved = of("claim"), of("resolve")
        # An agent's names that differ only in case are one agent (agent_key); a site is as sent.
        for column, fold, target in (("site", str, out.per_site), ("agent", agent_key, out.per_agent)):
            shown = _spellings((fold(r[column]), r[column], int(r["n"])) for r in rows)
            groups = [Group(name, of("claim", lambda r, k=k, c=column, f=fold: f(r[c]) == k),
                            of("resolve", lambda r, k=k, c=column, f=fold: f(r[c]) == k))
                      for k, name in shown.items()]
            # The busiest first: the digest shows the top of each list.
            target.extend(sorted(groups, key=lambda g: (-(g.claimed.count + g.resolved.count), g.key)))
        row = await self.db.fetch_one(self.q["opened_and_resolved"], span)
        if row is not None:
            out.opened, out.opened_resolved = int(row["opened"] or 0), int(row["resolved"] or 0)
        count = await self.db.fetch_one(self.q["overdue_count"], {"at": at, "site": site})
        out.overdue = int(count["n"]) if count else 0
        if out.overdue:
            listed = await self.db.fetch_all(self.q["overdue"], {"at": at, "site": site, "limit": overdue_listed})
            out.overdue_cases = [Overdue(r["id"], r["site"], _time(r["round_opened_at"]),
                                         _time(r["expected_response_at"])) for r in listed]
        return out

    async def satisfaction(self, start: datetime, end: datetime, *, site: str | None) -> Satisfaction:
        """The ratings given in ``[start, end)``."""
        rows = await self.db.fetch_all(self.q["ratings"], {"start": start, "end": end, "site": site})
        out = Satisfaction()
        agents: dict[str, list[int]] = {}
        for r in rows:
            rating, n = int(r["rating"]), int(r["n"])
            out.distribution[rating] = out.distribution.get(rating, 0) + n
            if r["agent"] is None:
                out.without_agent += n
            else:
                agents.setdefault(agent_key(r["agent"]), []).extend([rating] * n)
        shown = _spellings((agent_key(r["agent"]), r["agent"], int(r["n"])) for r in rows if r["agent"] is not None)
        out.per_agent = sorted((AgentRating(shown[a], len(v), round(sum(v) / len(v), 2)) for a, v in agents.items()),
                               key=lambda a: (-a.count, a.agent))
        return out

    async def case_rating(self, case_id: str) -> dict[str, Any] | None:
        """The mean rating users gave a case, and how many ratings (``None`` without any)."""
        row = await self.db.fetch_one(self.q["case_rating"], {"case_id": case_id})
        if row is None or not row["n"]:
            return None
        return {"mean": round(float(row["mean"]), 2), "count": int(row["n"])}


def _spellings(rows: Iterable[tuple[str, str, int]]) -> dict[str, str]:
    """For each key (an agent), the spelling shown: the one its rows used most (``(key, spelling, n)``).

    Spellings are counted composed (NFC): "É" typed as one character or as "E" and an accent
    reads the same.
    """
    counts: dict[str, Counter[str]] = {}
    for key, spelling, n in rows:
        counts.setdefault(key, Counter())[unicodedata.normalize("NFC", spelling)] += n
    # The most used; between as many, the first in code point order (capitals first: "Alice").
    return {key: sorted(c.items(), key=lambda item: (-item[1], item[0]))[0][0] for key, c in counts.items()}


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _time(value: Any) -> datetime:
    out = as_time(value)
    assert out is not None
    return out
