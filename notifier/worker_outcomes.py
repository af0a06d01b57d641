"""What the worker records of each send (mixed into :class:`~notifier.worker.Worker`).

A confirmed send is queued for a group commit that writes many at once; a retry or a
dead letter is written at once. Every write is retried through a store outage for
minutes (:data:`PERSIST_FOR`): the send already happened, and losing its outcome would
mean sending it again. Each outcome also feeds the channel-health watch and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from notifier import logs, metrics
from notifier.channels.base import SendResult
from notifier.config.models import Config
from notifier.core.failing import FailureWatch
from notifier.core.masking import error_line
from notifier.core.retry import next_attempt
from notifier.store.base import Claimed, Completion, Store, StoreUnavailable

if TYPE_CHECKING:
    from notifier.worker import WorkerStats

__all__ = ["PERSIST_FOR", "WorkerOutcomes"]

log = structlog.get_logger("notifier.worker")

#: How long the outcome of a finished send is retried through a store outage.
PERSIST_FOR = timedelta(minutes=5)


class WorkerOutcomes:
    """Record each send's outcome, group-commit the successes, watch each channel's health;
    needs the worker's store, configuration, clock, claims in flight and counters (set by
    :class:`~notifier.worker.Worker`)."""

    store: Store
    config: Config
    id: str
    lease: timedelta
    commit_window: float
    clock: Callable[[], datetime]
    stats: WorkerStats
    failures: FailureWatch
    _in_flight: set[str]
    _slot_free: asyncio.Event
    _completions: list[Completion]
    _flusher: asyncio.Task[None] | None
    _healthy: set[str]
    _children: dict[tuple[int | str, ...], Any]

    async def _persist(self, call: Callable[[], Any]) -> Any:
        """Run a store write, retrying through a store outage (down, locked, disk full) for minutes.

        The send already happened: losing its outcome would mean sending it again. The
        delivery stays in flight meanwhile, so the heartbeat keeps its claim.
        """
        try:  # the usual case, without the retry machinery (tens of µs per group commit)
            return await call()
        except StoreUnavailable as exc:
            self.store.outage.failed(exc, retry_in=0)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StoreUnavailable),
            wait=wait_exponential_jitter(multiplier=0.1, max=5),
            stop=stop_after_delay(max(PERSIST_FOR, self.lease).total_seconds()),
            reraise=True,
            before_sleep=lambda state: self._outage_met(state.outcome.exception() if state.outcome else None,
                                                        state.upcoming_sleep),
        ):
            with attempt:
                out = await call()
                self.store.outage.answered()
                return out
        return None

    def _outage_met(self, exc: BaseException | None, retry_in: float) -> None:
        if isinstance(exc, StoreUnavailable):
            self.store.outage.failed(exc, retry_in=round(retry_in, 2))

    def _complete(self, item: Completion) -> None:
        """Queue a confirmed send for the next group commit (started now if none runs)."""
        self._completions.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_completions())

    async def _flush_completions(self) -> None:
        # A short window lets sends confirmed meanwhile share one commit: the delivery has
        # already reached its channel, so this delays only the bookkeeping, not the user.
        await asyncio.sleep(self.commit_window)
        while self._completions:
            batch, self._completions = self._completions, []
            try:
                results = await self._persist(functools.partial(self.store.complete_many, batch))
                self.stats.lost_claims += results.count(False)
            except Exception:  # the claims stay: after the lease these are sent again, not lost
                log.exception("could not record sent deliveries", count=len(batch))
            finally:
                for item in batch:
                    self._in_flight.discard(item.delivery_id)
                self._slot_free.set()

    async def _flushed(self) -> None:
        """Wait until every confirmed send is written to the store."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _record(self, claimed: Claimed, result: SendResult, duration_ms: float) -> bool:
        d = claimed.delivery
        now = self.clock()
        if result.status == "sent":
            # Written by the next group commit; this sender moves on to its next delivery
            # meanwhile. Until then the delivery stays claimed, so a crash re-sends it
            # (at-least-once) but never marks unsent what was sent, nor the reverse.
            self._complete(Completion(d.id, self.id, now, result.ref, result.thread_ref,
                                      duration_ms, result.reason))
            ok = True
            self.stats.sent += 1
            outcome = "sent"
            if logs.enabled(logging.INFO):  # the hot path: skip the filtered line's whole cost
                log.info("delivered", delivery=d.id, event_id=d.event_id, channel=d.channel, route=d.route,
                         ref=result.ref, attempt=d.attempts + 1, ms=round(duration_ms, 1))
        elif result.status == "retry":
            decision = next_attempt(
                self.config.retry_for(d.channel),
                attempts=d.attempts + 1,
                first_attempt_at=d.first_attempt_at or now,
                now=now,
                retry_after=result.retry_after,
            )
            if decision.retry_at is not None:
                at = decision.retry_at
                ok = await self._persist(lambda: self.store.reschedule(
                    d.id, self.id, now, at, reason=result.reason, duration_ms=duration_ms,
                    progress=result.progress))
                self.stats.retried += 1
                outcome = "retry"
                log.info("delivery will be retried", delivery=d.id, channel=d.channel,
                         reason=result.reason, at=decision.retry_at.isoformat())
            else:
                why = f"{result.reason} ({decision.reason})"
                ok = await self._persist(lambda: self.store.dead(
                    d.id, self.id, now, reason=why, duration_ms=duration_ms, outcome="retry",
                    progress=result.progress))
                self.stats.dead += 1
                outcome = "dead"
                log.warning("delivery dead-lettered", delivery=d.id, channel=d.channel, reason=result.reason)
        else:
            ok = await self._persist(lambda: self.store.dead(
                d.id, self.id, now, reason=result.reason, duration_ms=duration_ms, progress=result.progress))
            self.stats.dead += 1
            outcome = "dead"
            log.warning("delivery dead-lettered", delivery=d.id, channel=d.channel, reason=result.reason)
        if not ok:
            self.stats.lost_claims += 1
        self._child(metrics.attempts, d.channel, outcome, result.label or outcome).inc()
        self._watch(d.channel, result, d.attempts + 1, now)
        return result.status != "sent"

    async def _give_up(self, claimed: Claimed, exc: Exception) -> None:
        """Dead-letter a delivery whose handling raised, so it is not claimed again forever."""
        d = claimed.delivery
        reason = f"internal error while delivering: {type(exc).__name__}: {error_line(exc)}"
        try:
            if await self.store.dead(d.id, self.id, self.clock(), reason=reason, duration_ms=0.0):
                self.stats.dead += 1
        except Exception:  # the claim stays; its lease ends and another try follows
            with contextlib.suppress(Exception):
                log.exception("could not dead-letter a failing delivery", delivery=d.id)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: the lookup costs more than the update."""
        key: tuple[int | str, ...] = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _watch(self, channel: str, result: SendResult, attempt: int, now: datetime) -> None:
        ok = result.status == "sent"
        if ok and channel in self._healthy:
            return  # already clean, gauges at 0: observing this success would change nothing
        notices = self.failures.observe(channel, ok=ok, attempt=attempt, now=now, reason=result.reason)
        state = self.failures.channels.get(channel)
        self._child(metrics.channel_consecutive_failures, channel).set(state.consecutive if state else 0)
        self._child(metrics.channel_failing_seconds, channel).set(self.failures.failing_seconds(channel, now))
        if ok:
            self._healthy.add(channel)
        else:
            self._healthy.discard(channel)
        for notice in notices:
            if notice.kind == "recovered":
                log.info("channel recovered", channel=channel, detail=notice.message)
            else:
                metrics.repeated_failures.labels(channel, notice.kind).inc()
                log.warning("channel failing" if notice.kind == "failing" else "delivery keeps failing",
                            channel=channel, detail=notice.message)
