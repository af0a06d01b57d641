"""What lets one channel's sends through: its adaptive in-flight limit, its pause, its rate.

The worker passes every send of a channel through the channel's :class:`ChannelGate`:

- at most :attr:`ChannelGate.limit` sends are in flight at once; the limit adapts to the
  receiver (:class:`notifier.core.concurrency.AdaptiveLimit`): it grows while answers come
  as fast as before, and is cut when sends fail in a way worth retrying (429, 5xx, timeouts);
- a ``Retry-After`` pauses the whole channel until then: no send of it starts meanwhile,
  not only the delivery that was told to wait;
- an explicit ``rate`` (sends per second; Slack's 1 per second) caps it whatever the limit.

The current limit is the ``notifier_channel_concurrency_limit{channel}`` gauge, and
:meth:`ChannelGate.view` is what ``/healthz`` shows per channel.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiolimiter import AsyncLimiter

from notifier import metrics
from notifier.channels.base import SendResult
from notifier.core.concurrency import AdaptiveLimit, Bounds

__all__ = ["HOLD", "ChannelGate", "Ticket", "view"]

#: A pause up to this long is waited out with the claims in hand; a longer one hands them
#: back to the store (they stay due, and no claim of the channel is taken until it ends).
HOLD = 30.0


def _limiter(rate: float | None) -> AsyncLimiter | None:
    # One send per 1/rate seconds, no burst: a cap the remote (Slack: 1 message per second
    # per channel) counts the same way.
    return AsyncLimiter(1, 1.0 / rate) if rate else None


class Ticket:
    """One send let through a gate; :meth:`close` it once the send ended (closing twice is harmless)."""

    def __init__(self, gate: ChannelGate, started: float) -> None:
        self.gate = gate
        #: ``gate.clock()`` when the send began.
        self.started = started
        self._open = True

    def close(self, result: SendResult | None = None, latency: float = 0.0) -> None:
        """The send ended with ``result`` after ``latency`` seconds (``None``: nothing was
        sent, or its outcome is unknown): the limit adapts, a ``Retry-After`` pauses the channel."""
        if self._open:
            self._open = False
            self.gate._close(self.started, result, latency)


class ChannelGate:
    """The sends of one channel (see the module's docstring)."""

    def __init__(self, name: str, bounds: Bounds, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self.adaptive = AdaptiveLimit(bounds)
        #: Sends under way now.
        self.in_flight = 0
        #: Most sends seen under way at once since the gate was made.
        self.peak = 0
        #: ``clock()`` until which no send may start (a ``Retry-After``).
        self.paused_until = float("-inf")
        self._rate = _limiter(bounds.rate)
        # Sends waiting for room, first come first served. One is woken per freed slot
        # (an Event would wake every waiting sender for each send that ends).
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._gauge = metrics.channel_concurrency_limit.labels(name)
        self._published: int | None = None
        self._publish()

    @property
    def limit(self) -> int:
        """How many sends may be in flight now."""
        return self.adaptive.current

    def pause_left(self) -> float:
        """Seconds until the channel's pause ends (0 when it is not paused)."""
        return max(0.0, self.paused_until - self.clock())

    def rebound(self, bounds: Bounds) -> None:
        """Use a reloaded configuration's bounds and rate."""
        if bounds.rate != self.adaptive.bounds.rate:
            self._rate = _limiter(bounds.rate)
        self.adaptive.rebound(bounds)
        self._publish()
        self._wake()

    async def enter(self, hold: float = HOLD) -> Ticket | None:
        """Wait for room to send; ``None`` when the channel is paused for longer than
        ``hold`` seconds (the caller hands its delivery back)."""
        while True:
            now = self.clock()
            if self.paused_until > now:
                left = self.paused_until - now
                if left > hold:
                    return None
                await asyncio.sleep(left)
                continue
            if self.in_flight >= self.adaptive.current:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._wake()  # woken and cancelled at once: pass the turn on
                    raise
                continue
            self.in_flight += 1
            if self._rate is not None:
                try:
                    await self._rate.acquire()
                except BaseException:
                    self._leave()
                    raise
                now = self.clock()
                if self.paused_until > now:  # paused while this send waited for its turn
                    self._leave()
                    continue
            if self.in_flight > self.peak:
                self.peak = self.in_flight
            return Ticket(self, now)

    def _close(self, started: float, result: SendResult | None, latency: float) -> None:
        if result is not None and result.status == "sent":
            self.adaptive.on_sent(latency=latency, in_flight=self.in_flight, started=started)
        elif result is not None and result.status == "retry":
            self.adaptive.on_overload(started=started, now=self.clock())
            if result.retry_after:
                self.paused_until = max(self.paused_until, self.clock() + result.retry_after)
                self._wake(everyone=True)  # each waiting send must see the pause (wait, or hand back)
        self._leave()  # after the pause is set: a waiting send woken now sees it
        self._publish()

    def _leave(self) -> None:
        self.in_flight -= 1
        if self._waiters:
            self._wake()

    def _wake(self, *, everyone: bool = False) -> None:
        """Wake as many waiting sends as there is room for, or all of them (each checks
        again when it runs)."""
        room = len(self._waiters) if everyone else self.limit - self.in_flight
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    def _publish(self) -> None:
        limit = self.adaptive.current
        if limit != self._published:
            self._published = limit
            self._gauge.set(limit)

    def view(self) -> dict[str, Any]:
        """What ``/healthz`` shows of the channel's sends."""
        return view(self.adaptive.bounds, limit=self.limit, in_flight=self.in_flight, paused_for=self.pause_left())


def view(bounds: Bounds, *, limit: int | None = None, in_flight: int = 0, paused_for: float = 0.0) -> dict[str, Any]:
    """A channel's sends as ``/healthz`` shows them (``limit`` defaults to where it starts)."""
    return {"concurrency_limit": bounds.start if limit is None else limit, "in_flight": in_flight,
            "min_concurrency": bounds.minimum, "max_concurrency": bounds.maximum, "rate": bounds.rate,
            "paused_for_seconds": round(paused_for, 1)}
