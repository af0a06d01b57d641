"""Cases, the use cases: open one when a person asks for help, act on it, say when to expect an answer.

``open_for_event`` runs inside the accept transaction (so a 202 means the case exists),
``act`` is the one entry point every channel calls to claim, resolve or reopen a case:
the CLI and the API today, Slack buttons and signed email links tomorrow. Both take the
time as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.config.models import Config, Route
from notifier.core.cases import Action, case_identity, message_for_user, opens_case
from notifier.core.events import Event, Kind, new_ids
from notifier.core.hours import add_business_time, business_time_between
from notifier.core.routing import Plan
from notifier.follow_ups import queue_follow_ups
from notifier.measures import measure_action, observe
from notifier.store.base import Store
from notifier.store.cases import ActionResult, Case, CaseStore, Opened, Opening, TimerPlan

__all__ = ["CasePlan", "act", "answered_at", "case_view", "is_late", "open_cases", "plan_cases", "plan_openings",
           "response_due", "timer_plans", "timings"]


def _route(config: Config, name: str | None) -> Route | None:
    return next((r for r in config.routes if r.name == name), None) if name else None


def case_route(config: Config, routed: Plan) -> str | None:
    """The route whose case settings apply: the first that matched (``None``: the fallback)."""
    return next((v.route for v in routed.verdicts if v.matched), None)


def response_due(config: Config, route: Route | None, now: datetime) -> datetime | None:
    """When an answer is expected for a case opened ``now`` (``None`` without a target)."""
    d = config.defaults
    target = (route.response_target if route is not None else None) or d.response_target
    if target is None:
        return None
    if d.response_clock == "wall":
        return now + target
    return add_business_time(now, target, d.business_hours, d.timezone)


def timer_plans(config: Config, route: Route | None, now: datetime) -> list[TimerPlan]:
    """The escalation steps of ``route`` for a case (or a new round of it) starting ``now``."""
    if route is None:
        return []
    d = config.defaults
    out = []
    for i, step in enumerate(route.escalate):
        due = (add_business_time(now, step.after, d.business_hours, d.timezone)
               if step.clock == "business_hours" else now + step.after)
        out.append(TimerPlan(i, route.name, due, tuple(step.to)))
    return out


def wants_case(event: Event, routed: Plan) -> bool:
    """Whether ``event`` opens or joins a case (a request for a human, a keyword alert)."""
    return opens_case(event, routed.keywords)


def may_reopen(event: Event) -> bool:
    """Whether ``event`` is the user writing in a conversation (which reopens a resolved case)."""
    return event.kind is Kind.message and event.role in (None, "user") and bool(event.conversation_id)


def plan_openings(config: Config, batch: list[tuple[Event, Plan]], now: datetime) -> list[Opening]:
    """The cases a batch's requests for a human (or keyword alerts) open or join, one per identity.

    Depends on the batch, the configuration and the time only: the accept transaction works
    it out before it takes the database's write lock.
    """
    grouped: dict[str, list[tuple[Event, Plan]]] = {}
    for event, routed in batch:
        if wants_case(event, routed):
            grouped.setdefault(case_identity(event), []).append((event, routed))
    openings = []
    ids = new_ids(len(grouped))
    # What a route's cases expect depends on the route and the time only: worked out once
    # per route of the batch, not per case (business hours make it a calendar walk).
    by_route: dict[str | None, tuple[datetime | None, tuple[TimerPlan, ...]]] = {}
    for (identity, items), case_id in zip(grouped.items(), ids, strict=True):
        first, routed = items[0]  # the first request of the batch sets the case's route
        name = case_route(config, routed)
        if name not in by_route:
            route = _route(config, name)
            by_route[name] = (response_due(config, route, now), tuple(timer_plans(config, route, now)))
        expected, timers = by_route[name]
        openings.append(Opening(
            case_id=case_id, identity=identity, event_ids=tuple(e.id or "" for e, _ in items),
            site=first.site, conversation_id=first.conversation_id, kind=first.kind.value, route=name,
            locale=first.locale, expected=expected, timers=timers))
    return openings


@dataclass(frozen=True)
class CasePlan:
    """What a batch does to cases as far as it is known before the accept transaction begins."""

    #: :func:`plan_openings` of the batch, and the rows that open them.
    openings: list[Opening]
    rows: str
    #: The events that reopen their conversation's case if it was resolved.
    writers: list[tuple[Event, Plan]]


def plan_cases(config: Config, batch: list[tuple[Event, Plan]], now: datetime) -> CasePlan:
    """:class:`CasePlan` of ``batch``: what :func:`open_cases` does with it when every event is new."""
    openings = plan_openings(config, batch, now)
    return CasePlan(openings, CaseStore.opening_rows(openings), _writers(batch))


def _writers(batch: list[tuple[Event, Plan]]) -> list[tuple[Event, Plan]]:
    return [(e, p) for e, p in batch if not wants_case(e, p) and may_reopen(e)]


async def open_cases(cases: CaseStore, config: Config, batch: list[tuple[Event, Plan]],
                     now: datetime, planned: CasePlan | None = None) -> dict[str, Opened]:
    """Open, join or reopen the cases of a batch of fresh events; by event id.

    A request for a human (or a keyword alert) opens or joins its case; any other message
    the user writes in a conversation whose case was resolved reopens it. Identities are
    visited in one global order, so two batches touching the same cases cannot deadlock.
    ``planned``: :func:`plan_cases` of ``batch``, when it was worked out already.
    """
    if planned is None:
        planned = plan_cases(config, batch, now)
    writers = planned.writers
    resolved = await cases.resolved_among([case_identity(e) for e, _ in writers])
    out = await cases.open_many(planned.openings, now, planned.rows)
    for event, _ in sorted(writers, key=lambda ep: (case_identity(ep[0]), ep[0].id or "")):
        identity = case_identity(event)
        if identity not in resolved or event.id is None:
            continue
        # The new round follows the case's own route: its target and escalation.
        route = _route(config, resolved.pop(identity))
        opened = await cases.reopen_if_resolved(identity=identity, event_id=event.id, now=now,
                                                expected=response_due(config, route, now),
                                                timers=timer_plans(config, route, now))
        if opened is not None:
            out[event.id] = opened
    return out


def case_view(opened: Opened, config: Config, locale: str | None, now: datetime) -> dict[str, Any]:
    """The ``case`` object of the ``POST /v1/events`` answer."""
    expected = opened.expected_response_at
    return {
        "id": opened.id,
        "status": opened.status,
        "expected_response_at": expected.isoformat() if expected else None,
        "message_for_user": message_for_user(opened.status, expected, now, config.defaults.timezone,
                                             locale or opened.locale or config.defaults.locale),
    }


async def act(store: Store, config: Config, case_id: str, action: Action, *, by: str, via: str,
              now: datetime, note: str | None = None, case_round: int | None = None) -> ActionResult:
    """Claim, resolve or reopen ``case_id`` on behalf of ``by``, asked from ``via`` (cli, api, slack…).

    ``case_round``: the round the request was made for (an action link names it); once the
    case was reopened past it, the action is refused. Idempotent; recorded whatever the
    outcome. An action that changed the case queues a follow-up for every channel that
    announced it (see :mod:`notifier.follow_ups`). Raises
    :class:`~notifier.store.cases.CaseNotFound` for an unknown case.
    """
    cases = CaseStore(store.connector())
    expected, timers = None, []
    if action == "reopen":
        case = await cases.get(case_id)
        route = _route(config, case.route if case else None)
        expected, timers = response_due(config, route, now), timer_plans(config, route, now)
    # One transaction: an action that changed the case and its follow-ups (the Slack
    # message updated in place, the email thread told…) are committed together.
    async with store.transaction() as tx:
        result = await CaseStore(tx.connector()).act(case_id, action, actor=by, via=via, now=now, note=note,
                                                     expected=expected, timers=timers, case_round=case_round)
        told = await queue_follow_ups(tx, config, result, by=by, via=via, now=now, note=note)
        measure = await measure_action(tx.connector(), config, result, via)
    observe(config, measure)
    if told:
        await store.notify_work()
    return result


def answered_at(case: Case) -> datetime | None:
    """When the case's current round was answered: claimed, or resolved without a claim.

    A case the erasure of its visitor closed was not answered by being closed (nobody could).
    """
    if case.claimed_at is not None:
        return case.claimed_at
    return case.resolved_at if case.status == "resolved" and not case.closed_by_erasure else None


def is_late(case: Case, now: datetime) -> bool:
    """Whether the case was answered after its expected time, or is still waiting past it.

    A case closed by its visitor's erasure waits no more: late only if it was claimed late.
    """
    if case.expected_response_at is None:
        return False
    answered = answered_at(case)
    if answered is None and case.closed_by_erasure:
        return False
    return (answered or now) > case.expected_response_at


def timings(case: Case, config: Config, now: datetime) -> dict[str, Any]:
    """How long the case waited: to be claimed, to be resolved, and whether it is late.

    Seconds of wall-clock time, and of business hours (what a response target counts).
    """
    d = config.defaults

    def span(start: datetime, end: datetime | None) -> dict[str, float]:
        stop = end or now
        return {"seconds": round((stop - start).total_seconds(), 3),
                "business_seconds": round(business_time_between(start, stop, d.business_hours,
                                                                d.timezone).total_seconds(), 3)}

    start = case.round_opened_at
    answered = answered_at(case)
    # Closed by its visitor's erasure: nobody resolved it, and it waits no more.
    resolved = case.status == "resolved" and case.resolved_at and not case.closed_by_erasure
    return {
        "to_claim": span(start, case.claimed_at) if case.claimed_at else None,
        "to_resolve": span(start, case.resolved_at) if resolved else None,
        "waiting": span(start, None) if answered is None and case.status != "resolved" else None,
        "late": is_late(case, now),
    }
