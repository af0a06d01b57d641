"""The worker: claim due deliveries -> send -> complete | reschedule | dead-letter.

It wakes as soon as work is committed (an in-process event, ``PRAGMA data_version`` on
SQLite, ``LISTEN/NOTIFY`` on PostgreSQL), sends through each channel's gate (an in-flight
limit that adapts to the receiver, ``Retry-After`` pausing the channel, an optional rate
cap: :mod:`notifier.channel_gate`), and records a send only after the channel confirmed it.
On stop it lets in-flight sends finish for a grace period, then releases what is left so nothing stays claimed.
``drain()`` (burst mode) processes everything due and returns: tests use it.

No single delivery can stop it: an event that cannot be loaded, a channel that raises
while rendering or sending, a store write that fails for one row — each dead-letters
that delivery alone, with a plain reason. The loops log an unexpected error, back off
and go on; their heartbeat (:attr:`Worker.beat`) lets ``/healthz`` see a loop that died
or hangs anyway.

This module holds the claim loop (run, drain, heartbeat, shutdown); the parts of
:class:`Worker` that share its state are mixed in from beside it: each channel's lane
(:mod:`notifier.worker_lanes`), the send of one delivery (:mod:`notifier.worker_delivery`)
and what is recorded of each send (:mod:`notifier.worker_outcomes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from notifier.channel_gate import ChannelGate
from notifier.channels.base import Channel
from notifier.channels.channel_set import ChannelSet
from notifier.config.models import Config
from notifier.core.durations import format_duration
from notifier.core.failing import FailureWatch
from notifier.store.base import Claimed, Completion, Store, StoreUnavailable
from notifier.store.partition import Partition
from notifier.worker_delivery import WorkerDelivery
from notifier.worker_lanes import WorkerLanes
from notifier.worker_outcomes import PERSIST_FOR, WorkerOutcomes

__all__ = ["DEFAULT_LEASE", "Worker", "WorkerStats", "utcnow"]

log = structlog.get_logger("notifier.worker")

#: How long a claim stays reserved without a heartbeat: a worker renews its claims every
#: third of it while it lives, so a dead worker's claims return to the queue this long
#: after its last heartbeat, on any backend and any machine.
DEFAULT_LEASE = timedelta(seconds=30)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class WorkerStats:
    """What a worker did (since it started, or during one ``drain``)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0

    @property
    def processed(self) -> int:
        return self.sent + self.retried + self.dead


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker(WorkerLanes, WorkerDelivery, WorkerOutcomes):
    """Delivers what the store says is due, through ``channels``."""

    def __init__(
        self,
        store: Store,
        config: Config,
        channels: Mapping[str, Channel],
        *,
        worker_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 512,
        max_in_flight: int = 1024,
        max_idle_wait: float = 5.0,
        grace: float = 10.0,
        commit_window: float = 0.005,
        clock: Callable[[], datetime] = utcnow,
        partition: Partition | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.channels = channels if isinstance(channels, ChannelSet) else ChannelSet(channels)
        self.id = worker_id or _worker_id()
        self.lease = lease
        # Claims and group commits are write transactions: on SQLite each waits its turn for
        # the one write lock, between the API's accepts. The more a turn claims, the fewer
        # turns a burst needs (with 128 in flight, a worker beside a busy API delivered half
        # as much while the accepts went on; bench/alertmanager.py). With 512 in flight, the
        # worker process still sat idle a fifth of that time: every claim sent and waiting for
        # its group commit, which waited for the lock. With 1,024, a tenth to a fifth.
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.max_idle_wait = max_idle_wait
        self.grace = grace
        self.commit_window = commit_window
        self.clock = clock
        #: This worker's share of the deliveries when several run (``serve --workers N``).
        self.partition = partition
        self.stats = WorkerStats()
        # One lane per channel: a queue and `max_concurrency` long-lived senders, of which the
        # channel's gate lets its current limit send at once. Cheaper than a task per
        # delivery, and a slow channel only slows its lane.
        self._lanes: dict[str, asyncio.Queue[Claimed]] = {}
        self._gates: dict[str, ChannelGate] = {}
        self._lane_senders: dict[str, int] = {}
        self._senders: list[asyncio.Task[None]] = []
        self._in_flight: set[str] = set()
        self._slot_free = asyncio.Event()
        self._completions: list[Completion] = []
        self._flusher: asyncio.Task[None] | None = None
        #: ``time.monotonic()`` of the main loop's last turn; ``None`` before :meth:`run`.
        self.beat: float | None = None
        #: Runs of failures per channel, to warn about patterns rather than single retries.
        self.failures = FailureWatch()
        # Channels whose last send succeeded and whose failure gauges already read 0: the
        # next success there changes nothing, so it skips the gauges (a send's hot path).
        self._healthy: set[str] = set()
        # Labelled metric children, looked up once per channel (and outcome) rather than per send.
        self._children: dict[tuple[int | str, ...], Any] = {}
        # Each channel's data policy and locale, read from the configuration once (reset by a reload).
        self._policies: dict[str, tuple[Collection[str] | None, Collection[str], str]] = {}

    def reconfigure(self, config: Config, channels: ChannelSet) -> None:
        """Use a newly loaded configuration for the next sends.

        Sends already under way finish on the channels they started with (they hold the
        old :class:`ChannelSet` until they return); lanes stay, keyed by channel name.
        """
        self.config, self.channels = config, channels
        self._policies.clear()
        for name, gate in self._gates.items():
            gate.rebound(config.concurrency_for(name))
            self._add_senders(name)

    async def _until_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is in flight (``False`` if ``timeout`` passed first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._in_flight:
            self._slot_free.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_free.wait(), remaining)
        await self._flushed()
        return True

    # ----------------------------------------------------------------- running
    async def release_orphans(self) -> int:
        """Release claims held by dead worker processes of this machine."""
        host = socket.gethostname()
        released = 0
        for owner in await self.store.claim_owners():
            parts = owner.split(":")
            local = len(parts) >= 2 and parts[0] == host and parts[1].isdigit() and owner != self.id
            if local and not _pid_alive(int(parts[1])):
                released += await self.store.release(owner)
        if released:
            log.info("released claims of stopped workers", count=released)
        return released

    async def _heartbeat(self) -> None:
        """Renew the claims in flight every third of the lease, for as long as this worker lives.

        A slow send (a long SMTP session, a rate-limited API) keeps its claim, and a dead
        worker's claims return to the queue one lease after its last heartbeat.
        """
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            held = list(self._in_flight)
            if not held:
                continue
            try:
                await self.store.renew(self.id, held, self.clock(), self.lease)
            except StoreUnavailable as exc:
                log.warning("could not renew claims, will retry", error=str(exc), count=len(held))
            except Exception:  # a heartbeat that fails once must keep beating
                with contextlib.suppress(Exception):
                    log.exception("renewing claims failed", count=len(held))

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._heartbeat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then shut down gracefully."""
        async with self._beating():  # until the shutdown's last in-flight send is recorded
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        # If the database is away, the loop below waits for it; leases cover the rest.
        with contextlib.suppress(StoreUnavailable):
            await self.release_orphans()
        log.info("worker started", worker=self.id)
        stopper = asyncio.create_task(stop.wait())
        outage = failures = 0
        try:
            while not stop.is_set():
                self.beat = time.monotonic()
                try:
                    if await self._claim_and_start() > 0:
                        outage = 0
                        self.store.outage.answered()  # a claim is a write: the store takes them again
                        continue
                    waiter = asyncio.create_task(self._idle_wait())
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
                        raise waiter.exception()  # type: ignore[misc]
                    if outage:
                        # What failed before (a look or a wait) works again. A look alone proves
                        # little when only writes fail (disk full), so only after our own failures.
                        self.store.outage.answered()
                    outage = 0
                except StoreUnavailable as exc:
                    # The database is away: back off (up to 10 s) and resume by ourselves.
                    outage += 1
                    pause = min(10.0, 0.2 * 2 ** min(outage, 6))
                    self.store.outage.failed(exc, retry_in=pause)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)
                except Exception:
                    # A bug or an unforeseen database error: log it, back off (up to 30 s) and
                    # go on. Stopping here would leave every later event pending, silently.
                    failures += 1
                    pause = min(30.0, 0.5 * 2 ** min(failures, 6))
                    with contextlib.suppress(Exception):
                        log.exception("worker loop failed, will go on", retry_in=pause)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)
                else:
                    failures = 0
        finally:
            stopper.cancel()
            await self._shutdown()

    def _wants_more(self) -> bool:
        # Refill in batches (when half the slots are free) rather than one claim per finished
        # send: a claim is a write transaction, and one per delivery would double the cost.
        return not self._in_flight or self.max_in_flight - len(self._in_flight) >= self.max_in_flight // 2

    async def _idle_wait(self) -> None:
        if self._in_flight and not self._wants_more():
            self._slot_free.clear()
            # Bounded, so the loop's heartbeat keeps going while every slot is busy.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_free.wait(), self.max_idle_wait)
            return
        timeout = self.max_idle_wait
        due = await self.store.next_due(self.partition)
        if due is not None:
            timeout = max(0.0, min(timeout, (due - self.clock()).total_seconds()))
            paused = self._paused_for()
            if timeout == 0 and paused is not None:
                # What is due belongs to a paused channel (nothing else could be claimed):
                # wait for the pause to end, or for new work.
                timeout = min(self.max_idle_wait, paused)
        if timeout > 0:
            await self.store.wait_for_work(timeout)

    async def _shutdown(self) -> None:
        # Claimed but not started: never sent, so they go straight back to the queue.
        for lane in self._lanes.values():
            while not lane.empty():
                self._in_flight.discard(lane.get_nowait().delivery.id)
        if self._in_flight:
            log.info("finishing in-flight sends", count=len(self._in_flight), grace=self.grace)
            await self._until_idle(self.grace)
        await self._stop_senders()
        if self._flusher is not None and not self._flusher.done() and self.store.outage.down:
            # Sends already made, their outcome not yet written: waiting (up to PERSIST_FOR)
            # keeps them from being sent again. Said, or a stop that hangs looks like a bug.
            log.warning("stopping: waiting for the database to record the sends already made, or they would be "
                        "sent again after the lease", count=len(self._in_flight),
                        up_to=format_duration(max(PERSIST_FOR, self.lease)))
        await self._flushed()
        try:
            released = await self.store.release(self.id)
        except StoreUnavailable:
            log.warning("could not release claims: they return to the queue when their lease ends")
            return
        if released:
            log.info("released unfinished deliveries", count=released)

    async def drain(self, *, include_retries: bool = False, timeout: float = 30.0) -> WorkerStats:
        """Process everything due now and return (burst mode).

        With ``include_retries`` also wait for rescheduled deliveries to come due, until
        nothing is pending or ``timeout`` seconds passed.
        """
        async with self._beating():
            return await self._drain(include_retries, timeout)

    async def _drain(self, include_retries: bool, timeout: float) -> WorkerStats:
        before = WorkerStats(self.stats.sent, self.stats.retried, self.stats.dead, self.stats.lost_claims)
        deadline = time.monotonic() + timeout
        await self.release_orphans()
        while time.monotonic() < deadline:
            started = await self._claim_and_start()
            if started:
                continue
            if self._in_flight:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            await self._flushed()  # a sent delivery still shows as claimed until written
            paused = self._paused_for()
            if paused is not None and await self.store.next_due(self.partition) is not None:
                # Due work of a paused channel: wait for the pause (within the deadline).
                await self.store.wait_for_work(min(paused, max(0.0, deadline - time.monotonic())))
                continue
            if not include_retries:
                break
            due = await self.store.next_due(self.partition)
            if due is None:
                break
            await self.store.wait_for_work(
                min(max(0.0, (due - self.clock()).total_seconds()), max(0.0, deadline - time.monotonic()))
            )
        await self._until_idle()
        await self._stop_senders()
        return WorkerStats(self.stats.sent - before.sent, self.stats.retried - before.retried,
                           self.stats.dead - before.dead, self.stats.lost_claims - before.lost_claims)

    async def _claim_and_start(self) -> int:
        room = min(self.batch, self.max_in_flight - len(self._in_flight))
        if room <= 0 or not self._wants_more():
            return 0
        # A lane with a long queue (a slow or rate-limited channel) takes no more for now:
        # its claims would wait in memory, their lease running, while other channels idle.
        full = {name for name, lane in self._lanes.items()
                if lane.qsize() >= 8 * self._gates[name].limit}
        # A paused channel (Retry-After) takes none either: no send of it may start before then.
        full |= {name for name, gate in self._gates.items() if gate.pause_left() > 0}
        channels = [name for name in self.channels if name not in full] if full else None
        if channels == []:
            return 0
        claimed = await self.store.claim(self.id, self.clock(), self.lease, room, channels, self.partition)
        for c in claimed:
            self._in_flight.add(c.delivery.id)
            self._lane(c.delivery.channel).put_nowait(c)
        return len(claimed)
