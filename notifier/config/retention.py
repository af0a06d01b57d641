"""``defaults.retention``: how long events, deliveries and cases are kept.

```yaml
defaults:
  retention: {events: 90d, deliveries: 30d, cases: 1y, at: "03:00"}
```

A purge runs once a day at ``at`` (in ``defaults.timezone``) and removes what is older
than its age (see :mod:`notifier.retention`). Ages shorter than a day are refused: a
bare number is seconds, and ``events: 90`` would otherwise erase everything at night.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

from pydantic import Field, field_validator

from notifier.config.common import Duration, StrictModel
from notifier.core.durations import format_duration

__all__ = ["MIN_AGE", "Retention"]

#: The shortest age accepted for anything kept.
MIN_AGE = timedelta(days=1)

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Retention(StrictModel):
    """How long each kind of record is kept before the daily purge removes it."""

    events: Duration = Field(timedelta(days=90), description="Events (with their transcripts, dedup keys and "
                             "deliveries), counted from when they were received.")
    deliveries: Duration = Field(timedelta(days=30), description="Finished deliveries (sent, dead, suppressed) "
                                 "and their attempts, counted from when they were planned.")
    cases: Duration = Field(timedelta(days=365), description="Cases, their actions and escalation timers, "
                            "counted from their last activity.")
    at: str = Field("03:00", description="When the daily purge runs, HH:MM in defaults.timezone.")

    @field_validator("events", "deliveries", "cases")
    @classmethod
    def _at_least_a_day(cls, value: timedelta) -> timedelta:
        if value < MIN_AGE:
            raise ValueError(f"{format_duration(value)} is shorter than a day: write an age such as 90d, 30d or 1y"
                             " (a bare number is seconds)")
        return value

    @field_validator("at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _AT.match(value):
            raise ValueError(f"invalid time {value!r}: expected HH:MM, e.g. \"03:00\"")
        return value

    @property
    def at_time(self) -> time:
        """``at`` as a time of day."""
        hour, minute = self.at.split(":")
        return time(int(hour), int(minute))

    def describe(self) -> str:
        """One line for ``notifier check``: ``events 90d, deliveries 30d, cases 1y (purged daily at 03:00)``."""
        return (f"events {format_duration(self.events)}, deliveries {format_duration(self.deliveries)}, "
                f"cases {format_duration(self.cases)} (purged daily at {self.at})")
