"""Digest periods and statistics: pure code, the clock is passed in.

**Periods.** A digest's ``schedule`` is a cron expression read in the digest's time zone
(its own ``timezone`` or ``defaults.timezone``), on the wall clock.

* A schedule that fires at most once a day (a single minute and hour, e.g. ``0 8 * * *``)
  reports **whole local days**: from midnight of the day of the previous fire to midnight
  of the day of this fire. The daily digest firing at 08:00 on day D reports day D-1,
  ``[D-1 00:00, D 00:00)``; ``0 8 * * 1-5`` on a Monday reports Friday to Sunday;
  ``0 8 * * 1`` reports the previous calendar week. A local day has 23 or 25 hours on the
  days the clocks change: the period is the calendar day all the same.
* A schedule that fires several times a day (``0 */6 * * *``) reports the interval between
  the previous fire and this one, ``[previous fire, this fire)``.

The period's *key* is ``(digest name, period start)``: the database keeps one row per key,
which is what makes a digest go out once even with several workers or after a restart.

**Statistics** (:class:`DigestStats`) are computed by the store in the database; this
module only shapes them for templates (changes against the previous period, the peak-hour
chart, the busiest hour).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from notifier.core.measures import ResponseTimes, Satisfaction
from notifier.core.questions import QuestionGroup
from notifier.core.text import grapheme_boundary, one_line

__all__ = [
    "BLOCKS",
    "DigestStats",
    "Health",
    "Period",
    "SupportItem",
    "Totals",
    "due_period",
    "hour_buckets",
    "is_daily",
    "period_for_date",
    "period_for_fire",
    "spark",
]

#: The chart characters of chat channels, from nothing to the busiest hour.
BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Period:
    """What one digest reports: ``[start, end)``, and when it was due (``fire``)."""

    start: datetime
    end: datetime
    fire: datetime
    #: The period before it, to compare against.
    previous_start: datetime

    @property
    def whole_days(self) -> bool:
        return (self.start.hour, self.start.minute, self.end.hour, self.end.minute) == (0, 0, 0, 0)


def is_daily(schedule: str) -> bool:
    """Whether ``schedule`` fires at most once a day (so its periods are whole days)."""
    minute, hour = schedule.split()[:2]
    return minute.isdigit() and hour.isdigit()


def _aware(naive: datetime, tz: ZoneInfo) -> datetime:
    # A wall-clock time that does not exist (the hour skipped in spring) resolves to the
    # same instant an hour later; a repeated one (autumn) to its first occurrence.
    return datetime.fromtimestamp(naive.replace(tzinfo=tz).timestamp(), tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return _aware(datetime.combine(day, time(0)), tz)


def _prev_fire(schedule: str, fire_naive: datetime) -> datetime:
    result: datetime = croniter(schedule, fire_naive).get_prev(datetime)
    return result


def period_for_fire(schedule: str, tz: ZoneInfo, fire: datetime) -> Period:
    """The period reported by the fire at ``fire`` (aware)."""
    local = fire.astimezone(tz)
    naive = local.replace(tzinfo=None)
    prev = _prev_fire(schedule, naive)
    before = _prev_fire(schedule, prev)
    if is_daily(schedule):
        start = _midnight(prev.date(), tz)
        end = _midnight(naive.date(), tz)
        previous_start = _midnight(before.date(), tz)
    else:
        start, end, previous_start = _aware(prev, tz), local, _aware(before, tz)
    return Period(start, end, local, previous_start)


def due_period(schedule: str, tz: ZoneInfo, now: datetime) -> Period:
    """The period of the latest fire at or before ``now``: what is due, or was missed."""
    naive = now.astimezone(tz).replace(tzinfo=None) + timedelta(microseconds=1)
    fire = _aware(_prev_fire(schedule, naive), tz)
    return period_for_fire(schedule, tz, fire)


def next_fire(schedule: str, tz: ZoneInfo, now: datetime) -> datetime:
    """The first fire strictly after ``now``."""
    naive = now.astimezone(tz).replace(tzinfo=None)
    nxt: datetime = croniter(schedule, naive).get_next(datetime)
    fire = _aware(nxt, tz)
    # The wall time may resolve before ``now`` around a clock change: take the one after.
    return fire if fire > now else next_fire(schedule, tz, fire + timedelta(minutes=1))


def period_for_date(schedule: str, tz: ZoneInfo, day: date) -> Period:
    """The period that covers local day ``day`` (``notifier digest --date``)."""
    if is_daily(schedule):
        # The first fire on or after the next midnight reports a period ending there.
        after = datetime.combine(day + timedelta(days=1), time(0)) - timedelta(microseconds=1)
    else:
        after = datetime.combine(day, time(0))
    nxt: datetime = croniter(schedule, after).get_next(datetime)
    return period_for_fire(schedule, tz, _aware(nxt, tz))


def hour_buckets(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[float, list[int]]:
    """How to count events per local hour with one ``GROUP BY``.

    Returns ``anchor`` (an epoch second) and ``hours``: the event at epoch ``t`` falls in
    bucket ``int((t - anchor) // 3600)``, which is local hour ``hours[bucket]``. Buckets are
    real elapsed hours, so a 25-hour day has 25 of them (the repeated 02:00 adds to hour 2)
    and a 23-hour day 23 (hour 2 stays empty).
    """
    local = start.astimezone(tz)
    anchor = local.timestamp() - local.minute * 60 - local.second - local.microsecond / 1e6
    n = max(0, math.ceil((end.timestamp() - anchor) / 3600))
    hours = [datetime.fromtimestamp(anchor + i * 3600 + 1, tz).hour for i in range(n)]
    return anchor, hours


# --------------------------------------------------------------------------- statistics


@dataclass
class Totals:
    """Counts of one period."""

    conversations: int = 0
    user_messages: int = 0
    support_requests: int = 0
    contact_requests: int = 0
    #: Events that made a keyword route fire (counted once however many channels got them).
    keyword_alerts: int = 0

    @property
    def empty(self) -> bool:
        return not any(asdict(self).values())


@dataclass
class SupportItem:
    """One support or contact request of the period."""

    id: str
    kind: str
    site: str
    occurred_at: datetime
    excerpt: str


@dataclass
class Health:
    """What the notifier itself did in the period, so silence is never mistaken for health."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    #: Now, whatever the period: dead letters waiting for a replay, deliveries not sent yet.
    dead_waiting: int = 0
    pending: int = 0
    #: Rows the retention purges of the period removed, per table (``events``, ``deliveries``…).
    purged: dict[str, int] = field(default_factory=dict)


@dataclass
class DigestStats:
    """Everything a digest shows, computed by the store for one period."""

    start: datetime
    end: datetime
    totals: Totals
    previous: Totals | None
    #: Events per local hour of the day (24 values), summed over the period.
    hourly: list[int]
    questions: list[QuestionGroup]
    #: The first 20 requests of the period, oldest first; ``support_total`` counts them all.
    support: list[SupportItem]
    support_total: int
    health: Health
    site: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: How the team answered (sections ``response_times`` and ``satisfaction``), when asked for.
    response_times: ResponseTimes | None = None
    satisfaction: Satisfaction | None = None

    @property
    def empty(self) -> bool:
        return self.totals.empty and not self.support_total and not any(self.hourly)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready statistics (the webhook form of the digest)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "site": self.site,
            "totals": asdict(self.totals),
            "previous": asdict(self.previous) if self.previous else None,
            "hourly": list(self.hourly),
            "top_questions": [{"question": q.example, "count": q.count, "key": q.key}
                              for q in self.questions],
            "support_requests": [{"id": s.id, "kind": s.kind, "site": s.site,
                                  "occurred_at": s.occurred_at.isoformat(), "excerpt": s.excerpt}
                                 for s in self.support],
            "support_total": self.support_total,
            "delivery_health": asdict(self.health),
            "response_times": self.response_times.to_json() if self.response_times else None,
            "satisfaction": self.satisfaction.to_json() if self.satisfaction else None,
        }


def spark(values: list[int]) -> str:
    """Block characters for ``values``: ``▁`` for nothing, ``█`` for the largest."""
    top = max(values, default=0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[0] if v <= 0 else BLOCKS[max(1, math.ceil(v / top * 7))] for v in values)


def busiest_hour(hourly: list[int]) -> int | None:
    """The local hour with the most activity (the earliest on a tie), or ``None``."""
    if not any(hourly):
        return None
    return max(range(len(hourly)), key=lambda h: (hourly[h], -h))


def change(current: int, previous: int | None) -> dict[str, Any]:
    """A count and how it moved: ``{"value", "previous", "delta", "percent", "arrow"}``."""
    if previous is None:
        return {"value": current, "previous": None, "delta": None, "percent": None, "arrow": ""}
    delta = current - previous
    percent = round(delta * 100 / previous) if previous else None
    return {"value": current, "previous": previous, "delta": delta, "percent": percent,
            "arrow": "↑" if delta > 0 else "↓" if delta < 0 else "="}


def excerpt(text: str, limit: int = 140) -> str:
    """``text`` on one line, cut at a word near ``limit`` characters (without directional
    overrides, which would turn the count written after it around)."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    head = flat[:grapheme_boundary(flat, limit)]
    cut = head.rsplit(" ", 1)[0] or head
    return cut.rstrip(",;:.") + "…"
