"""Accepting events: validate -> route -> dedup -> enqueue, in one transaction.

``202 Accepted`` means the event and its planned deliveries are committed: a crash after
the reply loses nothing. Dedup decisions are taken inside the same transaction, with the
key's row locked, so two processes accepting repeats at once still send one notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.acknowledge import queue_acknowledgement
from notifier.cases import case_view, open_cases
from notifier.config.models import Config
from notifier.core.dedup import decide
from notifier.core.events import Event, Kind, new_ids
from notifier.core.privacy import with_anonymised_ip
from notifier.core.questions import question_key
from notifier.core.routing import plan
from notifier.measures import link_ratings
from notifier.store.base import NewDelivery, Store
from notifier.store.cases import CaseStore

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


async def accept(store: Store, config: Config, events: list[Event], now: datetime) -> list[Accepted]:
    """Store ``events`` (ids and times filled in) with their deliveries, all or nothing."""
    if config.defaults.privacy.ip == "anonymise":
        # Before anything is stored or routed: the full address is never written.
        events = [with_anonymised_ip(e) for e in events]
    #: Per event, its deliveries as reported (``None``: a duplicate, not processed again).
    reported: list[list[PlannedView] | None] = []
    any_pending = False
    plans = [plan(config, event, now, explain=False) for event in events]
    # Lock every dedup key of the batch up front, in one global order, so that two
    # transactions sharing keys wait for each other instead of deadlocking.
    keys = sorted({d.dedup_key for p in plans for d in p.deliveries if d.dedup_key is not None})
    async with store.transaction() as tx:
        states = await tx.lock_dedups(keys) if keys else {}
        # Events are inserted in id order too: two batches sharing ids in different orders
        # would otherwise each wait for a row the other inserted (a deadlock). Dedup
        # decisions below still follow the batch's own order.
        order = sorted(range(len(events)), key=lambda i: events[i].id or "")
        inserted = await tx.insert_events([(events[i], now, _question_key(events[i])) for i in order])
        fresh = {i for i, new in zip(order, inserted, strict=True) if new}
        ids = iter(new_ids(sum(len(plans[i].deliveries) for i in fresh)))
        for i, (event, routed) in enumerate(zip(events, plans, strict=True)):
            assert event.id is not None
            if i not in fresh:
                reported.append(None)
                continue
            decisions: dict[str, tuple[bool, int]] = {}
            new: list[NewDelivery] = []
            tkey = thread_key(event)
            for planned in routed.deliveries:
                send, folded = True, 0
                if planned.dedup_key is not None:
                    if planned.dedup_key not in decisions:
                        decision = decide(states[planned.dedup_key], now, planned.dedup_window)
                        states[planned.dedup_key] = decision.state
                        await tx.save_dedup(planned.dedup_key, decision.state)
                        decisions[planned.dedup_key] = (decision.send, decision.folded)
                    send, folded = decisions[planned.dedup_key]
                new.append(NewDelivery(
                    id=next(ids),
                    route=planned.route,
                    channel=planned.channel,
                    priority=planned.priority,
                    status="pending" if send else "suppressed",
                    dedup_key=planned.dedup_key,
                    folded=folded,
                    keywords=tuple(routed.keywords),
                    thread_key=tkey,
                ))
            if new:
                await tx.insert_deliveries(event.id, new, now)
            any_pending = any_pending or any(d.status == "pending" for d in new)
            reported.append([PlannedView(d.id, d.route, d.channel, d.status, d.folded) for d in new])
        # Cases open in the same transaction: a 202 means the person's case exists.
        cases = CaseStore(tx.connector())
        opened = await open_cases(cases, config, [(events[i], plans[i]) for i in sorted(fresh)], now)
        # A rating joins its conversation's case (after opening: a case opened in this batch counts).
        await link_ratings(tx.connector(), [events[i] for i in sorted(fresh)], now)
        for i in sorted(fresh):
            found = opened.get(events[i].id or "")
            if found is not None and await queue_acknowledgement(tx, cases, config, events[i], found, now):
                any_pending = True
        results: list[Accepted] = []
        for event, views in zip(events, reported, strict=True):
            assert event.id is not None
            found = opened.get(event.id) if views is not None else await cases.of_event(event.id)
            results.append(Accepted(event.id, views is None, views or [],
                                    None if found is None else case_view(found, config, event.locale, now)))
    if any_pending:
        await store.notify_work()
    return results
