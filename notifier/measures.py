"""Measures, the use cases: time an action on a case, link a rating to its case.

Called where the facts happen: :func:`measure_action` in the transaction that records a
claim or a resolution (so the measure exists exactly when the action does), :func:`link_ratings`
in the transaction that accepts feedback events. Prometheus histograms are observed once the
transaction committed (:func:`observe`).
"""

from __future__ import annotations

from datetime import datetime

from notifier import metrics
from notifier.config.models import Config
from notifier.core.cases import case_identity
from notifier.core.events import Event, Kind
from notifier.core.hours import business_time_between
from notifier.store.cases import ActionResult
from notifier.store.connector import Connector
from notifier.store.measures import Measure, MeasureStore, Rating

__all__ = ["link_ratings", "measure_action", "observe"]


def _measure(config: Config, result: ActionResult, via: str) -> Measure | None:
    case = result.case
    if not result.changed or result.action not in ("claim", "resolve"):
        return None
    at, agent = ((case.claimed_at, case.claimed_by) if result.action == "claim"
                 else (case.resolved_at, case.resolved_by))
    if at is None or agent is None:
        return None
    start, d = case.round_opened_at, config.defaults
    business = business_time_between(start, at, d.business_hours, d.timezone).total_seconds()
    late = case.expected_response_at is not None and at > case.expected_response_at
    return Measure(case.id, case.round, result.action, case.site, agent, via, start, at,
                   round((at - start).total_seconds(), 3), round(business, 3), late)


async def measure_action(connector: Connector, config: Config, result: ActionResult, via: str) -> Measure | None:
    """Record how long the case round waited for this claim or resolution (once per round)."""
    measure = _measure(config, result, via)
    if measure is not None:
        await MeasureStore(connector).record(measure)
    return measure


def observe(config: Config, measure: Measure | None) -> None:
    """Add ``measure`` to the Prometheus histograms, on the clock the response target counts."""
    if measure is None:
        return
    business = config.defaults.response_clock != "wall"
    seconds = measure.business_seconds if business else measure.seconds
    histogram = metrics.case_time_to_claim if measure.measure == "claim" else metrics.case_time_to_resolve
    histogram.labels(metrics.site_label(measure.site)).observe(seconds)


async def link_ratings(connector: Connector, events: list[Event], now: datetime) -> list[Rating]:
    """Record the rated feedback among ``events`` (fresh ones, accepted at ``now``), each with its
    conversation's case and whoever answered it."""
    ratings = [Rating(e.id or "", case_identity(e), e.site, e.rating) for e in events
               if e.kind is Kind.feedback and e.rating is not None and e.id]
    if ratings:
        await MeasureStore(connector).record_ratings(ratings, now)
    for r in ratings:
        metrics.feedback_ratings.labels(metrics.site_label(r.site), str(r.rating)).inc()
    return ratings
