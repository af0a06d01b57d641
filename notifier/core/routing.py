"""Routing: which channels an event goes to, and why. Pure: the clock is passed in.

Routes are walked top to bottom; every matching route fires; ``stop: true`` ends the
walk. A support or contact request that no route took goes to the fallback. A channel
named by several routes receives the event once (from the first route that named it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from notifier.config.models import WEEKDAYS, BusinessHours, Config, Dedup, Match, Route
from notifier.core.dedup import render_key
from notifier.core.events import HANDOFF_KINDS, Event, Priority
from notifier.core.text import find_keywords, fold

__all__ = ["FALLBACK_ROUTE", "Plan", "PlannedDelivery", "RouteVerdict", "in_business_hours", "match_route", "plan",
           "route_matches"]

FALLBACK_ROUTE = "fallback"


@dataclass(frozen=True)
class PlannedDelivery:
    """One delivery to create: the event goes to ``channel`` because of ``route``."""

    route: str
    channel: str
    priority: Priority
    dedup_key: str | None
    dedup_window: timedelta


@dataclass(frozen=True)
class RouteVerdict:
    """Whether one route matched, with the reasons (for ``notifier explain``)."""

    route: str
    matched: bool
    reasons: list[str]


@dataclass
class Plan:
    """The outcome of routing one event."""

    deliveries: list[PlannedDelivery] = field(default_factory=list)
    verdicts: list[RouteVerdict] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    used_fallback: bool = False


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def in_business_hours(hours: BusinessHours, tz: str, at: datetime) -> bool:
    """Whether ``at`` falls inside ``hours`` in time zone ``tz``."""
    local = at.astimezone(ZoneInfo(tz))
    if WEEKDAYS[local.weekday()] not in hours.days:
        return False
    start, end = hours.span
    return start <= local.time() <= end


def match_route(route: Route, event: Event, config: Config, now: datetime, *,
                folded: str | None = None) -> RouteVerdict:
    """Check every condition of ``route.match``; all must hold (``folded``: the message folded, if known)."""
    m: Match = route.match
    ok, reasons = True, []

    def note(cond: bool, yes: str, no: str) -> None:
        nonlocal ok
        ok = ok and cond
        reasons.append(yes if cond else no)

    if m.kinds is not None:
        note(event.kind in m.kinds, f"kind {event.kind.value} is listed",
             f"kind {event.kind.value} is not in {[k.value for k in m.kinds]}")
    if m.site is not None:
        note(event.site in m.site, f"site {event.site!r} is listed", f"site {event.site!r} is not in {m.site}")
    if m.role is not None:
        note(event.role == m.role, f"role is {m.role}", f"role is {event.role or 'unset'}, not {m.role}")
    if m.priority is not None:
        p = event.effective_priority
        note(p in m.priority, f"priority {p.value} is listed",
             f"priority {p.value} is not in {[x.value for x in m.priority]}")
    if m.labels is not None:
        missing = {k: v for k, v in m.labels.items() if event.labels.get(k) != v}
        note(not missing, f"labels {m.labels} present", f"labels {missing} not present")
    if m.keywords is not None:
        found = find_keywords(event.message or "", m.keywords, folded=folded)
        note(bool(found), f"keywords {found} found in the message", "no keyword found in the message")
    if m.regex is not None:
        hit = _regex(m.regex).search(event.message or "")
        note(hit is not None, f"regex matched {hit.group(0)!r}" if hit else "", f"regex {m.regex!r} did not match")
    if m.when is not None:
        at = event.occurred_at or now
        inside = in_business_hours(config.defaults.business_hours, config.defaults.timezone, at)
        want = m.when == "business_hours"
        note(inside == want, f"{'inside' if inside else 'outside'} business hours",
             f"{'inside' if inside else 'outside'} business hours, route wants {m.when.replace('_', ' ')}")
    if not reasons:
        reasons.append("matches every event")
    return RouteVerdict(route.name, ok, reasons)


def route_matches(route: Route, event: Event, config: Config, now: datetime, *, folded: str | None = None) -> bool:
    """Whether ``route`` takes ``event``: :func:`match_route`'s verdict without its reasons.

    Every accepted event is routed: the reasons (strings built for each condition of each
    route) are only read by ``notifier explain``, so accepting asks this instead.
    """
    m: Match = route.match
    if m.kinds is not None and event.kind not in m.kinds:
        return False
    if m.site is not None and event.site not in m.site:
        return False
    if m.role is not None and event.role != m.role:
        return False
    if m.priority is not None and event.effective_priority not in m.priority:
        return False
    if m.labels is not None and any(event.labels.get(k) != v for k, v in m.labels.items()):
        return False
    if m.keywords is not None and not find_keywords(event.message or "", m.keywords, folded=folded):
        return False
    if m.regex is not None and _regex(m.regex).search(event.message or "") is None:
        return False
    if m.when is not None:
        inside = in_business_hours(config.defaults.business_hours, config.defaults.timezone, event.occurred_at or now)
        if inside != (m.when == "business_hours"):
            return False
    return True


def plan(config: Config, event: Event, now: datetime, *, explain: bool = True) -> Plan:
    """Route ``event`` (whose ``id`` is set) through ``config``.

    With ``explain=False`` each verdict says only whether its route matched (no reasons):
    what accepting needs, at a fraction of the cost.
    """
    result = Plan()
    taken: set[str] = set()
    # Folded once for every route that looks for keywords (a message may be 64,000 characters).
    folded = fold(event.message or "") if any(r.match.keywords for r in config.routes) else None
    for route in config.routes:
        if explain:
            verdict = match_route(route, event, config, now, folded=folded)
        else:
            verdict = RouteVerdict(route.name, route_matches(route, event, config, now, folded=folded), [])
        result.verdicts.append(verdict)
        if not verdict.matched:
            continue
        if route.match.keywords:
            result.keywords += [k for k in find_keywords(event.message or "", route.match.keywords, folded=folded)
                                if k not in result.keywords]
        dedup = effective_dedup(route, config)
        priority = route.priority or event.effective_priority
        key = render_key(dedup.key, event, route.name) if dedup.window > timedelta(0) else None
        for channel in route.to:
            if channel in taken:
                continue
            taken.add(channel)
            result.deliveries.append(PlannedDelivery(route.name, channel, priority, key, dedup.window))
        if route.stop:
            break
    if not result.deliveries and event.kind in HANDOFF_KINDS:
        dedup = config.defaults.dedup
        key = render_key(dedup.key, event, FALLBACK_ROUTE) if dedup.window > timedelta(0) else None
        for channel in config.fallback_channels:
            result.used_fallback = True
            result.deliveries.append(
                PlannedDelivery(FALLBACK_ROUTE, channel, event.effective_priority, key, dedup.window)
            )
    return result


def effective_dedup(route: Route, config: Config) -> Dedup:
    """The dedup settings in force for ``route``."""
    return route.dedup.over(config.defaults.dedup) if route.dedup else config.defaults.dedup
