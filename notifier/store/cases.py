"""Cases in the store: written once, above the connector port, for every backend.

Who wins a race is decided by the database: claiming is one conditional ``UPDATE``
(``… WHERE status IN ('open', 'reopened')``), so of two agents clicking at once exactly
one changes the row and the other is told who holds the case. Opening is one upsert on
the case's identity, so two requests of a conversation arriving together share a case.
Escalation timers move from ``pending`` to ``fired`` in one statement that skips rows
another process holds, so each fires once across processes and restarts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson

from notifier.core.cases import Action, CaseStatus, same_agent
from notifier.store.connector import Connector, Row, as_time, queries

__all__ = ["CLOSED_BY_ERASURE", "EARLIER_ROUND", "ERASED_CASE", "ActionResult", "Case", "CaseNotFound", "CaseStore",
           "FiredTimer", "Opened", "Opening", "TimerPlan"]

Outcome = Literal["done", "unchanged", "refused"]
#: Why an action meant for an earlier round of its case (an old action link) was refused.
EARLIER_ROUND = "meant for an earlier round of the case: it was reopened since"
#: Why an action on a case whose visitor was erased is refused: nobody is left to answer.
ERASED_CASE = "closed: its visitor's data was erased, nobody is left to answer"
#: ``resolved_because`` of a case a privacy erasure closed (nobody answered it).
CLOSED_BY_ERASURE = "erased"


class CaseNotFound(LookupError):
    """No case has that id."""


@dataclass(frozen=True)
class Case:
    """One case as stored."""

    id: str
    identity: str
    site: str
    conversation_id: str | None
    kind: str
    route: str | None
    locale: str | None
    status: CaseStatus
    round: int
    events: int
    opened_at: datetime
    round_opened_at: datetime
    updated_at: datetime
    expected_response_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None
    #: Why the case was resolved when nobody answered it: ``erased`` (a privacy erasure closed it).
    resolved_because: str | None = None

    @classmethod
    def from_row(cls, r: Row) -> Case:
        return cls(
            id=r["id"], identity=r["identity"], site=r["site"], conversation_id=r["conversation_id"],
            kind=r["kind"], route=r["route"], locale=r["locale"], status=r["status"], round=r["round"],
            events=r["events"], opened_at=_t(r["opened_at"]), round_opened_at=_t(r["round_opened_at"]),
            updated_at=_t(r["updated_at"]), expected_response_at=as_time(r["expected_response_at"]),
            claimed_by=r["claimed_by"], claimed_at=as_time(r["claimed_at"]), resolved_by=r["resolved_by"],
            resolved_at=as_time(r["resolved_at"]), note=r["note"], resolved_because=r["resolved_because"],
        )

    @property
    def erased(self) -> bool:
        """Whether a privacy erasure anonymised the case (its identity is then ``erased:<id>``,
        which no request's identity can be: those always hold a ``|``)."""
        return self.identity == f"erased:{self.id}"

    @property
    def closed_by_erasure(self) -> bool:
        """Whether the erasure of its visitor closed the case (nobody answered it: no response time)."""
        return self.resolved_because == CLOSED_BY_ERASURE

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data for the API and ``--json`` output (the identity stays inside)."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items() if k != "identity"}


def _json(rows: list[dict[str, Any]]) -> str:
    # Rows travel as one JSON array: one statement for a whole batch on either backend.
    return orjson.dumps(rows).decode()


def _t(value: Any) -> datetime:
    out = as_time(value)
    assert out is not None
    return out


class Opened(NamedTuple):
    """The case an accepted event opened, joined or reopened.

    A named tuple rather than a frozen dataclass: one is made per case of a batch while the
    accept transaction holds the write lock, and a tuple is made in a third of the time.
    """

    id: str
    status: CaseStatus
    round: int
    #: This event started the case or a new round of it (its timers were armed).
    new_round: bool
    expected_response_at: datetime | None
    route: str | None
    locale: str | None


@dataclass(frozen=True)
class TimerPlan:
    """An escalation step to arm: tell ``channels`` at ``due_at`` if the case is still unclaimed."""

    step: int
    route: str
    due_at: datetime
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Opening:
    """A case to open or join for ``identity``, with the batch's events that belong to it."""

    case_id: str
    identity: str
    event_ids: tuple[str, ...]
    site: str
    conversation_id: str | None
    kind: str
    route: str | None
    locale: str | None
    expected: datetime | None
    timers: tuple[TimerPlan, ...]


@dataclass(frozen=True)
class FiredTimer:
    """An escalation step this process fired (no other process fires it)."""

    case_id: str
    round: int
    step: int
    route: str
    due_at: datetime
    channels: tuple[str, ...]


@dataclass(frozen=True)
class ActionResult:
    """What an action did: ``done``, ``unchanged`` (it was already so) or ``refused`` (see ``reason``)."""

    case: Case
    action: Action
    outcome: Outcome
    reason: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "done"


class CaseStore:
    """Cases, their events, actions and escalation timers, on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "cases")

    # ----------------------------------------------------------------- opening
    async def open_or_join(self, *, case_id: str, identity: str, event_id: str, site: str,
                           conversation_id: str | None, kind: str, route: str | None, locale: str | None,
                           now: datetime, expected: datetime | None,
                           timers: list[TimerPlan]) -> Opened:
        """Open a case for ``identity``, join its open one, or reopen its resolved one."""
        opening = Opening(case_id, identity, (event_id,), site, conversation_id, kind, route, locale,
                          expected, tuple(timers))
        return (await self.open_many([opening], now))[event_id]

    @staticmethod
    def opening_rows(openings: list[Opening]) -> str:
        """The rows :meth:`open_many` sends for ``openings`` (made ahead, outside a transaction)."""
        return _json([
            {"id": o.case_id, "identity": o.identity, "site": o.site, "conversation_id": o.conversation_id,
             "kind": o.kind, "route": o.route, "locale": o.locale, "n": len(o.event_ids),
             "expected": o.expected.timestamp() if o.expected else None}
            for o in sorted(openings, key=lambda o: o.identity)])

    async def open_many(self, openings: list[Opening], now: datetime,
                        rows_made: str | None = None) -> dict[str, Opened]:
        """Open, join or reopen the case of each identity at once (three statements); by event id.

        Each identity appears once, with every event of the batch that belongs to it.
        ``rows_made``: :meth:`opening_rows` of ``openings``, when made ahead.
        """
        if not openings:
            return {}
        ordered = sorted(openings, key=lambda o: o.identity)
        rows = await self.db.fetch_all(self.q["open_or_join"], {
            "now": now, "rows": rows_made if rows_made is not None else self.opening_rows(ordered)})
        by_identity = {r["identity"]: r for r in rows}
        out: dict[str, Opened] = {}
        links, arms = [], []
        for o in ordered:
            r = by_identity[o.identity]
            opened = Opened(r["id"], r["status"], r["round"], r["round_events"] == len(o.event_ids),
                            as_time(r["expected_response_at"]), r["route"], r["locale"])
            links += [{"case_id": opened.id, "event_id": e, "round": opened.round} for e in o.event_ids]
            if opened.new_round and o.timers:
                arms += self._timer_rows(opened.id, opened.round, list(o.timers))
            out.update(dict.fromkeys(o.event_ids, opened))
        await self.db.write(self.q["link_events"], {"now": now, "rows": _json(links)})
        if arms:
            await self.db.write(self.q["arm_timers"], {"rows": _json(arms)})
        return out

    async def reopen_if_resolved(self, *, identity: str, event_id: str, now: datetime,
                                 expected: datetime | None, timers: list[TimerPlan]) -> Opened | None:
        """The user wrote again after their case was resolved: reopen it (``None`` if it was not)."""
        row = await self.db.fetch_one(self.q["reopen_by_identity"],
                                      {"identity": identity, "now": now, "expected": expected})
        if row is None:
            return None
        opened = Opened(row["id"], row["status"], row["round"], True, as_time(row["expected_response_at"]),
                        row["route"], row["locale"])
        await self.db.write(self.q["link_event"], {"case_id": opened.id, "event_id": event_id,
                                                      "round": opened.round, "now": now})
        await self._arm(opened.id, opened.round, timers)
        return opened

    async def resolved_among(self, identities: list[str]) -> dict[str, str | None]:
        """Those of ``identities`` whose case is resolved (a new message reopens it), with its route."""
        if not identities:
            return {}
        rows = await self.db.fetch_all(self.q["resolved_among"],
                                       {"identities": orjson.dumps(sorted(set(identities))).decode()})
        return {r["identity"]: r["route"] for r in rows}

    @staticmethod
    def _timer_rows(case_id: str, round_: int, timers: list[TimerPlan]) -> list[dict[str, Any]]:
        return [{"case_id": case_id, "round": round_, "step": t.step, "route": t.route,
                 "due_at": t.due_at.timestamp(), "channels": orjson.dumps(list(t.channels)).decode()}
                for t in timers]

    async def _arm(self, case_id: str, round_: int, timers: list[TimerPlan]) -> None:
        if timers:
            await self.db.write(self.q["arm_timers"], {"rows": _json(self._timer_rows(case_id, round_, timers))})

    # ----------------------------------------------------------------- reading
    async def get(self, case_id: str) -> Case | None:
        """One case."""
        row = await self.db.fetch_one(self.q["get"], {"id": case_id})
        return Case.from_row(row) if row else None

    async def find(self, *, status: CaseStatus | None = None, site: str | None = None,
                   sites: Collection[str] | None = None, limit: int = 100) -> list[Case]:
        """Cases, most recently active first; ``sites``: only these (a token bound to sites)."""
        rows = await self.db.fetch_all(self.q["list"], {
            "status": status, "site": site, "limit": limit,
            "sites": None if sites is None else orjson.dumps(sorted(sites)).decode()})
        return [Case.from_row(r) for r in rows]

    async def of_event(self, event_id: str) -> Opened | None:
        """The case an event belongs to (for a repeated POST of the same event)."""
        row = await self.db.fetch_one(self.q["case_of_event"], {"event_id": event_id})
        if row is None:
            return None
        return Opened(row["id"], row["status"], row["round"], False, as_time(row["expected_response_at"]),
                      None, row["locale"])

    async def history(self, case_id: str) -> dict[str, list[dict[str, Any]]]:
        """The case's events, deliveries, actions and escalation timers, oldest first."""
        def iso(v: Any) -> str | None:
            t = as_time(v)
            return t.isoformat() if t else None

        events = await self.db.fetch_all(self.q["events"], {"case_id": case_id})
        deliveries = await self.db.fetch_all(self.q["deliveries"], {"case_id": case_id})
        actions = await self.db.fetch_all(self.q["actions"], {"case_id": case_id})
        timers = await self.db.fetch_all(self.q["timers"], {"case_id": case_id})
        return {
            "events": [{"id": e["event_id"], "round": e["round"], "at": iso(e["at"]), "kind": e["kind"],
                        "event": e["body"] if isinstance(e["body"], dict) else orjson.loads(e["body"])}
                       for e in events],
            "deliveries": [{**d, "created_at": iso(d["created_at"]), "sent_at": iso(d["sent_at"])}
                           for d in deliveries],
            "actions": [{**a, "at": iso(a["at"])} for a in actions],
            "escalations": [{**t, "due_at": iso(t["due_at"]), "fired_at": iso(t["fired_at"]),
                             "channels": orjson.loads(t["channels"])} for t in timers],
        }

    # ----------------------------------------------------------------- actions
    async def act(self, case_id: str, action: Action, *, actor: str, via: str, now: datetime,
                  note: str | None = None, expected: datetime | None = None,
                  timers: list[TimerPlan] | None = None, case_round: int | None = None) -> ActionResult:
        """Claim, resolve or reopen a case, once, and record who asked, when and from where.

        ``expected`` and ``timers`` apply to ``reopen`` (a new round). With ``case_round``, a
        claim or a resolution applies to that round only: once the case moved on it is refused
        (reason :data:`EARLIER_ROUND`). Raises :class:`CaseNotFound` for an unknown id; a refused
        action is returned, not raised.
        """
        async with self.db.transaction() as db:
            inner = CaseStore(db)
            outcome, reason = await inner._change(case_id, action, actor, now, note, expected, timers or [],
                                                  case_round)
            await db.execute(self.q["record_action"], {
                "case_id": case_id, "action": action, "actor": actor, "via": via, "now": now,
                "note": note, "outcome": outcome})
            case = await inner.get(case_id)
            assert case is not None
            return ActionResult(case, action, outcome, reason)

    async def _change(self, case_id: str, action: Action, actor: str, now: datetime, note: str | None,
                      expected: datetime | None, timers: list[TimerPlan],
                      case_round: int | None = None) -> tuple[Outcome, str | None]:
        if action == "claim":
            row = await self.db.fetch_one(self.q["claim"], {"id": case_id, "actor": actor, "now": now,
                                                            "round": case_round})
        elif action == "resolve":
            row = await self.db.fetch_one(self.q["resolve"], {"id": case_id, "actor": actor, "now": now,
                                                              "note": note, "round": case_round})
        else:
            row = await self.db.fetch_one(self.q["reopen"], {"id": case_id, "now": now, "expected": expected})
        if row is not None:
            if action == "reopen":
                await self._arm(case_id, row["round"], timers)
            else:
                await self.db.execute(self.q["cancel_timers"], {"case_id": case_id, "reason": action})
                await self.db.execute(self.q["cancel_escalations"], {"case_id": case_id})
            return "done", None
        case = await self.get(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        if case.erased and action != "resolve":
            # Nobody is left to answer (the erasure closed it): a claim or a reopening would
            # put an empty case back in the queue, late forever.
            return "refused", ERASED_CASE
        if case_round is not None and case.round != case_round and action != "reopen":
            return "refused", EARLIER_ROUND
        if action == "claim" and case.status == "claimed":
            if same_agent(case.claimed_by, actor):  # "alice" claiming what "Alice" holds
                return "unchanged", None
            return "refused", f"already claimed by {case.claimed_by}"
        if action == "claim":  # resolved
            return "refused", f"resolved by {case.resolved_by}: reopen it first"
        return "unchanged", None

    # ----------------------------------------------------------------- escalation
    async def take_due_timers(self, worker: str, now: datetime, limit: int = 100) -> list[FiredTimer]:
        """Fire the due timers of unclaimed cases: each one is returned to exactly one caller."""
        rows = await self.db.fetch_all(self.q["take_due_timers"], {"worker": worker, "now": now, "limit": limit})
        return [FiredTimer(r["case_id"], r["round"], r["step"], r["route"], _t(r["due_at"]),
                           tuple(orjson.loads(r["channels"]))) for r in rows]

    async def next_timer(self) -> datetime | None:
        """When the earliest pending escalation is due."""
        row = await self.db.fetch_one(self.q["next_timer"])
        return as_time(row["due_at"]) if row else None
