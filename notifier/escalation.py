"""Escalation: a case nobody claimed climbs, step by step, to the people named in its route.

Timers are stored when a case opens (``case_timers``). :func:`fire_due` moves each due
timer of a still-unclaimed case to ``fired`` and creates its deliveries in the same
transaction, so a timer fires exactly once across processes and restarts; the worker
then delivers them like any other, with retries. Claiming or resolving a case cancels
what is pending (``cancelled_because``: ``claim``, ``resolve``), and so does a privacy
erasure of its visitor (``erased``): nothing is left to send, and the on-call is never
paged with an empty message. :class:`Escalator` runs :func:`fire_due` beside the worker.

An escalation's deliveries carry an event of their own: the case's latest request, with
``labels`` saying which step this is and how long the case has waited, and the route
``escalation`` (templates show "Escalation: not claimed for 15m").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
import structlog

from notifier.config.models import Config
from notifier.core.cases import labelled
from notifier.core.durations import format_duration
from notifier.core.events import Event, Priority, new_ids
from notifier.store.base import NewDelivery, Store, StoreUnavailable
from notifier.store.cases import CaseStore, FiredTimer

__all__ = ["ESCALATION_ROUTE", "Escalator", "fire_due"]

log = structlog.get_logger("notifier.escalation")

#: The route name of every escalation delivery.
ESCALATION_ROUTE = "escalation"


def _waited(seconds: float) -> str:
    # Whole minutes: "1h15m", not "1h15m3s".
    return format_duration(timedelta(minutes=max(1, round(seconds / 60))))


def _channels(config: Config, timer: FiredTimer, case_id: str) -> list[str]:
    """Where a fired step goes: the channels its timer named that still exist.

    A reload may have renamed them all while the case waited; the step then goes where the
    route's step says now, else to the fallback: a case nobody took never climbs unseen.
    """
    known = [c for c in timer.channels if c in config.channels]
    if len(known) < len(timer.channels):
        log.warning("escalation names a channel that no longer exists", case=case_id,
                    channels=[c for c in timer.channels if c not in config.channels])
    if known:
        return known
    route = next((r for r in config.routes if r.name == timer.route), None)
    now = list(route.escalate[timer.step].to) if route is not None and timer.step < len(route.escalate) else []
    instead = [c for c in now if c in config.channels] or [
        c for c in config.fallback_channels if c in config.channels]
    log.warning("escalation sent to the channels configured now", case=case_id, to=instead)
    return instead


async def fire_due(store: Store, config: Config, worker: str, now: datetime, limit: int = 100) -> list[FiredTimer]:
    """Fire the escalations due at ``now``: their deliveries are queued; each timer fires once."""
    async with store.transaction() as tx:
        cases = CaseStore(tx.connector())
        fired = await cases.take_due_timers(worker, now, limit)
        for timer in fired:
            case = await cases.get(timer.case_id)
            row = await cases.db.fetch_one(cases.q["latest_event"], {"case_id": timer.case_id})
            if case is None or row is None:
                continue
            body = row["body"] if isinstance(row["body"], dict) else orjson.loads(row["body"])
            waited = _waited((now - case.round_opened_at).total_seconds())
            event_id = f"{case.id}:escalation:{timer.round}:{timer.step}"
            ours = {"escalation": str(timer.step + 1), "escalated_case": case.id, "waited": waited,
                    "escalated_route": timer.route}
            try:
                event = Event.model_validate({**body, "id": event_id, "priority": Priority.high.value,
                                              "labels": labelled(body.get("labels") or {}, ours)})
            except ValueError:
                # A request stored by another version that no longer validates: escalate with
                # what is sure rather than not at all (the timer has fired either way).
                log.warning("escalating a request that does not validate any more", case=case.id)
                event = Event.model_validate({"id": event_id, "kind": case.kind, "site": case.site,
                                              "conversation_id": case.conversation_id,
                                              "priority": Priority.high.value, "labels": ours})
            await cases.db.execute(cases.q["insert_internal_event"], {
                "id": event_id, "kind": "escalation", "site": case.site, "now": now,
                "body": orjson.dumps(event.to_json()).decode()})
            # Linked to the case, so its history shows the escalation and its deliveries.
            await cases.db.execute(cases.q["link_event"], {"case_id": case.id, "event_id": event_id,
                                                            "round": timer.round, "now": now})
            known = _channels(config, timer, case.id)
            await tx.insert_deliveries(event_id, [
                NewDelivery(id=id_, route=ESCALATION_ROUTE, channel=channel, priority=Priority.high)
                for id_, channel in zip(new_ids(len(known)), known, strict=True)], now)
            log.info("case escalated", case=case.id, step=timer.step + 1, waited=waited, to=known)
    if fired:
        await store.notify_work()
    return fired


class Escalator:
    """Fires due escalations until stopped; looks at least every ``every`` seconds."""

    def __init__(self, store: Store, config: Callable[[], Config], worker: str,
                 clock: Callable[[], datetime], *, every: float = 5.0) -> None:
        self.store, self.config, self.worker, self.clock, self.every = store, config, worker, clock, every

    async def run(self, stop: asyncio.Event) -> None:
        """Fire what is due, then sleep until the next timer (or ``every``), until ``stop``."""
        pause = self.every
        away = False  # the last turn met StoreUnavailable
        while not stop.is_set():
            try:
                now = self.clock()
                cases = CaseStore(self.store.connector())
                nxt = await cases.next_timer()
                # Look first (a read), write only when something is due: on SQLite a write
                # takes the database's one write lock, which the API and workers need.
                if nxt is not None and nxt <= now:
                    await fire_due(self.store, self.config(), self.worker, now)
                    nxt = await cases.next_timer()
                pause = self.every if nxt is None else min(self.every, max(0.05, (nxt - now).total_seconds()))
                if away:
                    self.store.outage.answered()
                    away = False
            except StoreUnavailable as exc:
                self.store.outage.failed(exc, task="escalations")
                pause, away = self.every, True
            except Exception:
                # Never stop escalating because of one bad case: log it and try again later.
                with contextlib.suppress(Exception):
                    log.exception("firing escalations failed, will go on")
                pause = self.every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
