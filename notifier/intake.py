"""Group commit for accepts: concurrent requests share one transaction.

With one writer (SQLite) a transaction's round trips, not its rows, bound how many
single-event POSTs a second can be made durable. While one transaction runs, the requests
that arrive meanwhile queue up here and the next transaction takes them all, each caller
still answered only once its own events are committed (202 stays durable). A request
alone is written at once: grouping adds no wait, it only fills the time a commit takes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime

from notifier.config.models import Config
from notifier.core.events import Event
from notifier.pipeline import Accepted, accept
from notifier.store import Store, StoreUnavailable

__all__ = ["Intake"]

#: The most events one shared transaction takes (a bigger queue waits for the next one).
MAX_GROUP = 1_000

#: One caller's events and where its answer goes.
_Request = tuple[list[Event], "asyncio.Future[list[Accepted]]"]


class Intake:
    """Accepts events for many concurrent callers, several callers per transaction."""

    def __init__(self, store: Callable[[], Store], config: Callable[[], Config],
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._queue: deque[_Request] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, events: list[Event]) -> list[Accepted]:
        """Accept ``events`` (ids and times filled in): durable when this returns."""
        future: asyncio.Future[list[Accepted]] = asyncio.get_running_loop().create_future()
        self._queue.append((events, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._queue:
            group: list[_Request] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0][0]) <= MAX_GROUP):
                events, future = self._queue.popleft()
                group.append((events, future))
                size += len(events)
            await self._commit(group)

    async def _commit(self, group: list[_Request]) -> None:
        store = self._store()
        try:
            results = await accept(store, self._config(), [e for events, _ in group for e in events],
                                   self._clock())
        except StoreUnavailable as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        except Exception as exc:
            if len(group) == 1:
                if not group[0][1].done():
                    group[0][1].set_exception(exc)
                return
            # Something in one request's events: each request on its own, so only its
            # sender gets the error.
            for one in group:
                await self._commit([one])
            return
        store.outage.answered()
        at = 0
        for events, future in group:
            if not future.done():
                future.set_result(results[at:at + len(events)])
            at += len(events)
