"""The log of a store outage: one line when it starts, a few while it lasts, one when it ends.

Under an outage every request and every worker turn meets ``StoreUnavailable``; a line
each would be thousands a second under load, burying everything else in the log. So the
first failure is written at once (with the driver's error: the operator needs it), the
next ones are counted and written at most once per ``every`` seconds (``folded``: how
many went unwritten since the line before), and the first success after a written
failure says the store answers again, how long it was away and how many failures were
folded since. A store that flaps (a lock held now and then) writes at most about two
lines per ``every``.

Neither the standard library nor structlog folds repeated lines, and neither could tell
when the store answers again: that is what the callers report with :meth:`answered`.

While an outage is known, a client waiting for its answer need not wait the store's whole
timeout for a connection that will not come: :meth:`patience` says how long to wait now.
The first call of an outage waits the whole timeout (nothing is known yet); the next ones
made for a client (inside :func:`for_a_client`: the API's requests) wait
:data:`KNOWN_OUTAGE_WAIT` and keep trying, so the first after the store returns goes
through. Background work (a worker's claims and outcomes, escalations) still waits the
whole timeout: nobody waits for its answer, it backs off by itself, and on a starved
machine a connection can take longer than a moment to come, which a short wait would
turn into one more failure, a longer back-off and a stalled worker.

>>> from notifier.store.base import StoreUnavailable
>>> now = [0.0]
>>> outage = OutageLog(every=10, clock=lambda: now[0])
>>> outage.failed(StoreUnavailable("disk full"), path="/v1/events")   # written
>>> now[0] = 1.0; outage.failed(StoreUnavailable("disk full"))        # counted
>>> with for_a_client():
...     outage.patience(10.0)                                         # known: a client waits a moment
0.5
>>> outage.patience(10.0)                                             # background work: the whole timeout
10.0
>>> now[0] = 2.0; outage.answered()                                   # "store available again"
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:  # notifier.store.base holds one per store
    from notifier.store.base import StoreUnavailable

__all__ = ["FOLD_EVERY", "KNOWN_OUTAGE_WAIT", "OutageLog", "for_a_client", "for_the_background"]

#: At most one "store unavailable" line per this many seconds while an outage lasts.
FOLD_EVERY = 10.0

#: How long a call waits for the store while an outage is known (see :meth:`OutageLog.patience`).
#: A pool hands over a ready connection in microseconds and a server that answers gives a
#: new one in milliseconds (tens on a loaded machine), so the first call after the store
#: returns still goes through. While it is down, half a second means a chatbot's HTTP
#: client (timeouts of a few seconds are common) gets the 503 and its ``Retry-After``
#: instead of timing out, and a request holds one of the API's capped connections for
#: about a second at most, so ``/healthz`` and everyone else are still answered.
KNOWN_OUTAGE_WAIT = 0.5

_log = structlog.get_logger("notifier.store")

#: Whether the store is being called for a client that waits for the answer (see
#: :func:`for_a_client`); tasks started meanwhile inherit it, as context variables go.
_CLIENT_WAITING: ContextVar[bool] = ContextVar("notifier_client_waiting", default=False)


@contextlib.contextmanager
def for_a_client() -> Iterator[None]:
    """Mark the store calls made inside as made for a waiting client (an HTTP request):
    in a known outage they wait :data:`KNOWN_OUTAGE_WAIT`, not the store's whole timeout."""
    token = _CLIENT_WAITING.set(True)
    try:
        yield
    finally:
        _CLIENT_WAITING.reset(token)


@contextlib.contextmanager
def for_the_background() -> Iterator[None]:
    """Mark the store calls made inside, and those of the tasks started there, as made for
    nobody waiting (the whole timeout), even when a client's request set them going: a
    reload asked from the console starts worker senders that outlive its answer."""
    token = _CLIENT_WAITING.set(False)
    try:
        yield
    finally:
        _CLIENT_WAITING.reset(token)


class OutageLog:
    """Folds the warnings of one store's outage. Called from one event loop (no locking)."""

    def __init__(self, every: float = FOLD_EVERY, clock: Callable[[], float] = time.monotonic,
                 logger: Any = None) -> None:
        self.every = every
        self._clock = clock
        self._log = logger if logger is not None else _log
        self._since: float | None = None  # when the current outage began (None: the store answers)
        self._written = False  # whether a line of the current outage was written
        self._last: float | None = None  # when the last "store unavailable" line was written
        self._folded = 0  # failures not written since that line

    @property
    def down(self) -> bool:
        """Whether the last call to the store failed."""
        return self._since is not None

    def patience(self, timeout: float) -> float:
        """How long a call may wait for the store now: ``timeout``, or less for a client's call
        (:func:`for_a_client`) while an outage is known."""
        if self._since is None or not _CLIENT_WAITING.get():
            return timeout
        return min(timeout, KNOWN_OUTAGE_WAIT)

    def failed(self, exc: StoreUnavailable, **context: Any) -> None:
        """A call met ``exc``: write it if no line was written in the last ``every`` seconds."""
        now = self._clock()
        if self._since is None:
            self._since = now
        if self._last is not None and now - self._last < self.every:
            self._folded += 1
            return
        extra: dict[str, Any] = {"folded": self._folded} if self._folded else {}
        if self._written:
            extra["down_for"] = round(now - self._since, 1)
        self._log.warning("store unavailable", error=str(exc), **extra, **context)
        self._last, self._written, self._folded = now, True, 0

    def answered(self) -> None:
        """A call to the store succeeded: say so once if the outage was written about."""
        if self._since is None:  # the usual case: one attribute read
            return
        now = self._clock()
        if self._written:
            extra: dict[str, Any] = {"folded": self._folded} if self._folded else {}
            # At the outage's level, so that whoever sees it begin sees it end.
            self._log.warning("store available again", down_for=round(now - self._since, 1), **extra)
            self._folded = 0
        # A blip inside the quiet time after a line keeps its count for the next line.
        self._since, self._written = None, False
