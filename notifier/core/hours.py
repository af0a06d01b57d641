"""Business-hours arithmetic: when a response is due, counting only the hours the team works.

Pure: no clock, every instant is passed in. Durations are real elapsed time inside the
opening hours, so a day when the clocks change (Europe/Paris in March and October) still
counts the hours the team actually works.

>>> from datetime import UTC, datetime, timedelta
>>> from notifier.config.models import BusinessHours
>>> friday_evening = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)        # 19:00 in Paris
>>> add_business_time(friday_evening, timedelta(hours=2), BusinessHours(), "Europe/Paris")
datetime.datetime(2026, 3, 9, 10, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.config.models import WEEKDAYS, BusinessHours

__all__ = ["add_business_time", "business_time_between"]

#: Far enough for any sane target; a calendar with no open day at all never ends.
_HORIZON_DAYS = 3700


def _windows(hours: BusinessHours, tz: str, start: date) -> Iterator[tuple[datetime, datetime]]:
    """The opening windows (in UTC) of each open day from ``start`` on."""
    zone = ZoneInfo(tz)
    first, last = hours.span
    # The span ends a microsecond before midnight for "24:00"; a window closes at midnight.
    to_midnight = hours.hours.endswith("24:00")
    for offset in range(_HORIZON_DAYS):
        day = start + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in hours.days:
            continue
        opens = datetime.combine(day, first, tzinfo=zone).astimezone(UTC)
        if to_midnight:
            closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        else:
            closes = datetime.combine(day, last, tzinfo=zone).astimezone(UTC)
        if closes > opens:
            yield opens, closes


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours, tz: str) -> datetime:
    """The instant (UTC) when ``duration`` of opening hours has passed since ``start``.

    A request outside the opening hours starts counting when the team opens: Friday 19:00
    plus 2h with 09:00-18:00 Mon-Fri is Monday 11:00. ``ValueError`` when ``hours`` has no
    open day.
    """
    cursor = start.astimezone(UTC)
    remaining = duration
    # Start a day early: a window that opened yesterday in local time may still be open.
    local_day = cursor.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    for opens, closes in _windows(hours, tz, local_day):
        if closes <= cursor:
            continue
        cursor = max(cursor, opens)
        available = closes - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
        cursor = closes
    raise ValueError("business hours have no open day: a target counted in them is never reached")


def business_time_between(start: datetime, end: datetime, hours: BusinessHours, tz: str) -> timedelta:
    """How much opening time lies between ``start`` and ``end`` (zero when ``end`` is earlier)."""
    begin, finish = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta(0)
    if finish <= begin:
        return total
    local_day = begin.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    for opens, closes in _windows(hours, tz, local_day):
        if opens >= finish:
            break
        lo, hi = max(opens, begin), min(closes, finish)
        if hi > lo:
            total += hi - lo
    return total
