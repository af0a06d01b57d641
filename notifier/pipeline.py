"""Accepting events: validate -> route -> dedup -> enqueue, in one transaction.

``202 Accepted`` means the event and its planned deliveries are committed: a crash after
the reply loses nothing. Dedup decisions are taken inside the same transaction, with the
key's row locked, so two processes accepting repeats at once still send one notification.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from notifier.acknowledge import may_acknowledge, queue_acknowledgement
from notifier.cases import case_view, open_cases, plan_cases
from notifier.config.models import Config
from notifier.core.dedup import DedupState, decide
from notifier.core.events import Event, Kind, new_ids
from notifier.core.privacy import with_anonymised_ip
from notifier.core.questions import question_key
from notifier.core.routing import Plan, plan
from notifier.measures import link_ratings
from notifier.store.base import NewDelivery, Store, Transaction
from notifier.store.cases import CaseStore, Opened

__all__ = ["Accepted", "PlannedView", "accept"]


@dataclass(frozen=True)
class PlannedView:
    """A delivery as reported to the client that posted the event."""

    id: str
    route: str
    channel: str
    status: str
    folded: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "route": self.route, "channel": self.channel,
                               "status": self.status}
        if self.folded:
            out["folded"] = self.folded
        return out


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting one event."""

    id: str
    duplicate: bool
    deliveries: list[PlannedView] = field(default_factory=list)
    #: The case the event opened or joined (see :func:`notifier.cases.case_view`).
    case: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "duplicate": self.duplicate,
               "deliveries": [d.to_json() for d in self.deliveries]}
        if self.case is not None:
            out["case"] = self.case
        return out


def thread_key(event: Event) -> str | None:
    """The conversation a notification belongs to, for threading on a channel."""
    return f"{event.site}:{event.conversation_id}" if event.conversation_id else None


def _question_key(event: Event) -> str | None:
    if event.message and (event.kind is not Kind.message or event.role in (None, "user")):
        return question_key(event.message) or None
    return None


def _drafts(event: Event, routed: Plan, ids: Iterator[str]) -> list[NewDelivery]:
    """``event``'s deliveries as if it were new and nothing folded (dedup decides inside the lock)."""
    tkey = thread_key(event)
    keywords = tuple(routed.keywords)
    return [NewDelivery(id=next(ids), route=planned.route, channel=planned.channel, priority=planned.priority,
                        dedup_key=planned.dedup_key, keywords=keywords, thread_key=tkey)
            for planned in routed.deliveries]


async def _deduplicated(tx: Transaction, drafts: list[NewDelivery], states: dict[str, DedupState | None],
                        routed: Plan, now: datetime) -> list[NewDelivery]:
    """``drafts`` with the dedup decisions taken on the locked ``states`` (which they update)."""
    decisions: dict[str, tuple[bool, int]] = {}
    out = []
    for draft, planned in zip(drafts, routed.deliveries, strict=True):
        key = draft.dedup_key
        if key is None:
            out.append(draft)
            continue
        if key not in decisions:
            decision = decide(states[key], now, planned.dedup_window)
            states[key] = decision.state
            await tx.save_dedup(key, decision.state)
            decisions[key] = (decision.send, decision.folded)
        send, folded = decisions[key]
        out.append(replace(draft, status="pending" if send else "suppressed", folded=folded))
    return out


async def accept(store: Store, config: Config, events: list[Event], now: datetime) -> list[Accepted]:
    """Store ``events`` (ids and times filled in) with their deliveries, all or nothing.

    Only what needs the transaction's answers runs while it holds the database's write lock
    (which events are new, dedup decisions, the cases as stored): the deliveries and cases
    are drafted before it begins, as if every event were new, and the answer is formatted
    after it committed.
    """
    if config.defaults.privacy.ip == "anonymise":
        # Before anything is stored or routed: the full address is never written.
        events = [with_anonymised_ip(e) for e in events]
    plans = [plan(config, event, now, explain=False) for event in events]
    # Lock every dedup key of the batch up front, in one global order, so that two
    # transactions sharing keys wait for each other instead of deadlocking.
    keys = sorted({d.dedup_key for p in plans for d in p.deliveries if d.dedup_key is not None})
    # Events are inserted in id order too: two batches sharing ids in different orders
    # would otherwise each wait for a row the other inserted (a deadlock). Dedup
    # decisions below still follow the batch's own order.
    order = sorted(range(len(events)), key=lambda i: events[i].id or "")
    rows = [(events[i], now, _question_key(events[i])) for i in order]
    ids = iter(new_ids(sum(len(p.deliveries) for p in plans)))
    drafts = [_drafts(event, routed, ids) for event, routed in zip(events, plans, strict=True)]
    batch = list(zip(events, plans, strict=True))
    planned = plan_cases(config, batch, now)
    acknowledge = may_acknowledge(config, events)
    #: Per event, its deliveries (``None``: a duplicate, not processed again) and its case.
    made: list[list[NewDelivery] | None] = [None] * len(events)
    found: list[Opened | None] = [None] * len(events)
    async with store.transaction() as tx:
        states = await tx.lock_dedups(keys) if keys else {}
        inserted = await tx.insert_events(rows)
        fresh = sorted(i for i, new in zip(order, inserted, strict=True) if new)
        for i in fresh:
            made[i] = await _deduplicated(tx, drafts[i], states, plans[i], now) if keys else drafts[i]
        await tx.insert_deliveries_of([(events[i].id or "", made[i] or []) for i in fresh if made[i]], now)
        # Cases open in the same transaction: a 202 means the person's case exists. The
        # openings drafted for the whole batch hold when every event is new (the common case).
        cases = CaseStore(tx.connector())
        opened = await open_cases(cases, config, [batch[i] for i in fresh], now,
                                  planned if len(fresh) == len(events) else None)
        # A rating joins its conversation's case (after opening: a case opened in this batch counts).
        await link_ratings(tx.connector(), [events[i] for i in fresh], now)
        acknowledged = False
        for i in fresh:
            case = found[i] = opened.get(events[i].id or "")
            if acknowledge[i] and case is not None and await queue_acknowledgement(
                    tx, cases, config, events[i], case, now):
                acknowledged = True
        for i, views in enumerate(made):
            if views is None:
                found[i] = await cases.of_event(events[i].id or "")
    if acknowledged or any(d.status == "pending" for views in made if views for d in views):
        await store.notify_work()
    return [Accepted(event.id or "", views is None,
                     [PlannedView(d.id, d.route, d.channel, d.status, d.folded) for d in views or []],
                     None if case is None else case_view(case, config, event.locale, now))
            for event, views, case in zip(events, made, found, strict=True)]
