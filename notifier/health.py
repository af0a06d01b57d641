"""What ``GET /healthz`` answers: is delivery actually moving?

A process whose store answers can still deliver nothing: its worker loop may have died or
hung, or the queue may be stuck. Health therefore looks at three things:

- the store answers (else ``503``, as before);
- the worker of this process, when it runs one, is in its loop and its heartbeat is recent;
- the oldest *due* delivery (pending and due, or claimed with an expired lease) has not
  waited longer than ``stuck_after``. This also covers an API-only process whose workers
  run elsewhere: they are gone or stuck if due work piles up.

Example::

    >>> from datetime import timedelta
    >>> verdict = judge(worker=WorkerLiveness(running=True, beat_age=0.5), oldest_due_age=None,
    ...                 stuck_after=timedelta(minutes=10))
    >>> verdict.ok, verdict.problems
    (True, [])
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from notifier.core.durations import parse_duration

__all__ = ["HEARTBEAT_STALE", "STUCK_AFTER", "Health", "WorkerLiveness", "due_age", "judge", "stuck_after_from_env"]

#: A worker loop turns at least every few seconds (its idle wait is bounded); one silent
#: for this long is hung.
HEARTBEAT_STALE = timedelta(seconds=60)

#: Default for how long the oldest due delivery may wait before the queue counts as stuck.
STUCK_AFTER = timedelta(minutes=10)


def stuck_after_from_env() -> timedelta:
    """``NOTIFIER_STUCK_AFTER`` (a duration such as ``10m``), else :data:`STUCK_AFTER`."""
    raw = os.environ.get("NOTIFIER_STUCK_AFTER")
    return parse_duration(raw) if raw else STUCK_AFTER


@dataclass(frozen=True)
class WorkerLiveness:
    """The state of this process's worker loop."""

    running: bool
    #: Seconds since the loop's last turn (``None`` if it never turned).
    beat_age: float | None

    @classmethod
    def of(cls, running: bool, beat: float | None) -> WorkerLiveness:
        """From a worker's ``running`` flag and ``beat`` (a ``time.monotonic()`` value)."""
        return cls(running, None if beat is None else max(0.0, time.monotonic() - beat))


@dataclass
class Health:
    """The verdict and what ``/healthz`` shows."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def due_age(next_due: datetime | None, now: datetime) -> float | None:
    """Seconds the oldest due delivery has waited (``None`` when nothing is due)."""
    if next_due is None or next_due > now:
        return None
    return (now - next_due).total_seconds()


def judge(*, worker: WorkerLiveness | None, oldest_due_age: float | None, stuck_after: timedelta,
          heartbeat_stale: timedelta = HEARTBEAT_STALE) -> Health:
    """Healthy unless this process's worker is dead or hung, or due work waits too long.

    ``worker`` is ``None`` when this process runs no worker (``serve --no-worker``).
    """
    problems: list[str] = []
    details: dict[str, Any] = {}
    if worker is None:
        details["worker"] = {"in_this_process": False}
    else:
        details["worker"] = {"in_this_process": True, "running": worker.running,
                             "last_heartbeat_seconds_ago": None if worker.beat_age is None
                             else round(worker.beat_age, 1)}
        if not worker.running:
            problems.append("the worker loop is not running: nothing is being delivered")
        elif worker.beat_age is not None and worker.beat_age > heartbeat_stale.total_seconds():
            problems.append(f"the worker loop has not turned for {worker.beat_age:.0f} s: it is hung")
    details["oldest_due_seconds"] = None if oldest_due_age is None else round(oldest_due_age, 1)
    details["stuck_after_seconds"] = stuck_after.total_seconds()
    if oldest_due_age is not None and oldest_due_age > stuck_after.total_seconds():
        problems.append(f"the oldest due delivery has waited {oldest_due_age:.0f} s "
                        f"(more than {stuck_after.total_seconds():.0f} s): the queue is stuck")
    return Health(not problems, problems, details)
