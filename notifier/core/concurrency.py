"""How many sends a channel may have in flight: a limit that adapts to the receiver.

Additive increase, multiplicative decrease (AIMD, as TCP and Netflix's concurrency-limits
do), with a latency guard:

- a confirmed send whose answer came about as fast as the channel's best recent answer
  (at most ``tolerance`` times it, plus ``slack``) while the limit was in use (at least
  half of it in flight) raises the limit: by one per send at first (slow start, so a
  receiver that keeps its latency flat soon sees dozens of sends at once), by one per
  round of sends after the first sign of trouble (congestion avoidance);
- a send answered more slowly than that leaves the limit where it is and ends the slow
  start: more in flight would only queue at the receiver;
- a send that failed in a way worth retrying (429, 503 and other 5xx, timeouts, refused or
  reset connections) multiplies the limit by ``backoff``, once per round of sends: sends
  that had already started before the cut cannot cut it again, so one burst of 429s
  does not cut it several times over.

The limit stays between ``minimum`` and ``maximum``. No I/O, no clock: times are passed in.

Example::

    >>> limit = AdaptiveLimit(Bounds(start=4, minimum=1, maximum=64))
    >>> for i in range(10):
    ...     limit.on_sent(latency=0.05, in_flight=limit.current, started=float(i))
    >>> limit.current
    14
    >>> limit.on_overload(started=10.0, now=10.1)
    >>> limit.current
    9
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX", "DEFAULT_MIN", "AdaptiveLimit", "Bounds"]

#: The default range of a channel's limit (``defaults.min_concurrency``/``max_concurrency``).
DEFAULT_MIN, DEFAULT_MAX = 1, 64


@dataclass(frozen=True)
class Bounds:
    """Where a channel's limit starts, the range it moves in, and an optional rate cap."""

    start: int
    minimum: int = DEFAULT_MIN
    maximum: int = DEFAULT_MAX
    #: At most this many sends per second (``None``: no cap).
    rate: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"concurrency bounds must satisfy 1 <= minimum <= maximum, "
                             f"not {self.minimum}..{self.maximum}")

    @property
    def fixed(self) -> bool:
        """``minimum == maximum``: the limit never moves."""
        return self.minimum == self.maximum


class AdaptiveLimit:
    """The in-flight limit of one channel (see the module's docstring)."""

    def __init__(self, bounds: Bounds, *, backoff: float = 0.7, tolerance: float = 2.0,
                 slack: float = 0.01, window: float = 30.0) -> None:
        self.bounds = bounds
        self.backoff = backoff
        self.tolerance = tolerance
        #: Seconds of latency above ``tolerance`` × the baseline still taken as flat: with
        #: a receiver that answers in a millisecond, our own scheduling jitter is larger.
        self.slack = slack
        self.slow_start = True
        #: Seconds over which the best latency is remembered: a receiver that became slower
        #: for good sets a new baseline within two windows.
        self.window = window
        self._limit = float(min(max(bounds.start, bounds.minimum), bounds.maximum))
        self._cut_at = float("-inf")
        self._best: float | None = None        # best latency of the current window
        self._best_before: float | None = None  # ... and of the window before it
        self._window_began: float | None = None

    @property
    def current(self) -> int:
        """How many sends may be in flight now."""
        return int(self._limit)

    @property
    def baseline(self) -> float | None:
        """The best latency seen over the last one to two windows (seconds)."""
        best, before = self._best, self._best_before
        if best is None or before is None:
            return before if best is None else best
        return min(best, before)

    def rebound(self, bounds: Bounds) -> None:
        """New bounds (a reloaded configuration); the current limit is kept inside them."""
        self.bounds = bounds
        self._limit = min(max(self._limit, bounds.minimum), bounds.maximum)

    def on_sent(self, *, latency: float, in_flight: int, started: float) -> None:
        """A send that began at ``started`` was confirmed after ``latency`` seconds,
        ``in_flight`` sends being under way when it began (itself included)."""
        self._observe(latency, started)
        baseline = self.baseline
        if baseline is not None and latency > self.tolerance * baseline + self.slack:
            self.slow_start = False
        elif in_flight * 2 >= self._limit:
            step = 1.0 if self.slow_start else 1.0 / self._limit
            self._limit = min(float(self.bounds.maximum), self._limit + step)

    def on_overload(self, *, started: float, now: float) -> None:
        """A send that began at ``started`` failed in a retryable way (the receiver is
        overloaded, limits us, or is away)."""
        if started < self._cut_at:
            return  # already under way when the limit was cut for an earlier failure
        self._cut_at = now
        self.slow_start = False
        self._limit = max(float(self.bounds.minimum), self._limit * self.backoff)

    def _observe(self, latency: float, at: float) -> None:
        if self._window_began is None:
            self._window_began = at
        elif at - self._window_began >= self.window:
            self._best_before, self._best, self._window_began = self._best, None, at
        if self._best is None or latency < self._best:
            self._best = latency
