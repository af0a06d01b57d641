"""When a failing delivery or channel deserves a warning: pure rules, time passed in.

Retries are logged at ``info``: one refused connection is normal. What an operator must
hear about is a pattern: the same delivery failing :data:`REPEATED` times in a row, or a
channel whose sends have all failed for :data:`FAILING_FOR`. :class:`FailureWatch` says
when each of those starts (once, not at every attempt) and when the channel recovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["FAILING_FOR", "REPEATED", "ChannelState", "FailureWatch", "Notice"]

#: A delivery that failed this many times in a row is warned about.
REPEATED = 3
#: A channel whose every send failed for this long is warned about.
FAILING_FOR = timedelta(minutes=5)


@dataclass(frozen=True)
class Notice:
    """Something to log: ``kind`` is ``repeated``, ``failing`` or ``recovered``."""

    kind: str
    channel: str
    message: str


@dataclass
class ChannelState:
    """One channel's failures since its last successful send."""

    consecutive: int = 0
    failing_since: datetime | None = None
    warned: bool = False


@dataclass
class FailureWatch:
    """Tracks each channel's run of failures; :meth:`observe` returns what to warn about."""

    repeated: int = REPEATED
    failing_for: timedelta = FAILING_FOR
    channels: dict[str, ChannelState] = field(default_factory=dict)

    def observe(self, channel: str, *, ok: bool, attempt: int, now: datetime,
                reason: str | None = None) -> list[Notice]:
        """Record one attempt (``attempt`` counts this delivery's tries, this one included)."""
        state = self.channels.setdefault(channel, ChannelState())
        if ok:
            notices = []
            if state.warned and state.failing_since is not None:
                failed_for = _words(now - state.failing_since)
                notices.append(Notice("recovered", channel, f"{channel} delivers again after failing for {failed_for}"))
            self.channels[channel] = ChannelState()
            return notices
        notices = []
        state.consecutive += 1
        if state.failing_since is None:
            state.failing_since = now
        why = reason or "no reason given"
        if attempt == self.repeated:
            notices.append(Notice("repeated", channel,
                                  f"a delivery to {channel} failed {attempt} times in a row: {why}"))
        if not state.warned and now - state.failing_since >= self.failing_for:
            state.warned = True
            notices.append(Notice("failing", channel,
                                  f"every send to {channel} has failed for {_words(now - state.failing_since)} "
                                  f"({state.consecutive} in a row): {why}"))
        return notices

    def failing_seconds(self, channel: str, now: datetime) -> float:
        """Seconds the channel has been failing (0 when its last send succeeded)."""
        state = self.channels.get(channel)
        if state is None or state.failing_since is None:
            return 0.0
        return max(0.0, (now - state.failing_since).total_seconds())


def _words(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
