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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from notifier import logs, metrics
from notifier.channel_gate import ChannelGate, Ticket, view
from notifier.channels.base import Channel, Outbound, SendResult, permanent, retryable
from notifier.channels.channel_set import ChannelSet
from notifier.config.models import Config
from notifier.core.events import Event
from notifier.core.failing import FailureWatch
from notifier.core.masking import mask_urls_in
from notifier.core.privacy import for_channel
from notifier.core.retry import next_attempt
from notifier.follow_ups import FOLLOW_UP_ROUTE, FollowUpPending, load_follow_up
from notifier.store.base import Claimed, Completion, Store, StoreUnavailable
from notifier.store.follow_ups import FollowUpStore
from notifier.store.partition import Partition

__all__ = ["DEFAULT_LEASE", "Worker", "WorkerStats", "utcnow"]

log = structlog.get_logger("notifier.worker")

#: How long a claim stays reserved without a heartbeat: a worker renews its claims every
#: third of it while it lives, so a dead worker's claims return to the queue this long
#: after its last heartbeat, on any backend and any machine.
DEFAULT_LEASE = timedelta(seconds=30)
#: How long the outcome of a finished send is retried through a store outage.
PERSIST_FOR = timedelta(minutes=5)


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


class Worker:
    """Delivers what the store says is due, through ``channels``."""

    def __init__(
        self,
        store: Store,
        config: Config,
        channels: Mapping[str, Channel],
        *,
        worker_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 256,
        max_in_flight: int = 512,
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
        # as much while the accepts went on; bench/alertmanager.py).
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

    def gates(self) -> dict[str, ChannelGate]:
        """Each channel's gate (its current in-flight limit, pause and rate), by channel name."""
        return dict(self._gates)

    def concurrency(self) -> dict[str, dict[str, Any]]:
        """Each configured channel's sends: current in-flight limit, bounds, rate, pause."""
        return {name: gate.view() if (gate := self._gates.get(name)) is not None
                else view(self.config.concurrency_for(name)) for name in self.config.channels}

    def _paused_for(self) -> float | None:
        """Seconds until the first paused channel may send again (``None``: none is paused)."""
        left = [g.pause_left() for g in self._gates.values()]
        return min((x for x in left if x > 0), default=None)

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

    def _lane(self, channel: str) -> asyncio.Queue[Claimed]:
        lane = self._lanes.get(channel)
        if lane is None:
            lane = self._lanes[channel] = asyncio.Queue()
            self._gates.setdefault(channel, ChannelGate(channel, self.config.concurrency_for(channel)))
            self._add_senders(channel)
        return lane

    def _add_senders(self, channel: str) -> None:
        """As many senders as the channel's limit may reach (more after a reload raised it)."""
        lane, gate = self._lanes.get(channel), self._gates.get(channel)
        if lane is None or gate is None:
            return
        have = self._lane_senders.get(channel, 0)
        want = gate.adaptive.bounds.maximum
        self._senders += [asyncio.create_task(self._sender(lane, gate)) for _ in range(want - have)]
        self._lane_senders[channel] = max(have, want)

    async def _sender(self, lane: asyncio.Queue[Claimed], gate: ChannelGate) -> None:
        while True:
            claimed = await lane.get()
            written = True
            ticket = await gate.enter()
            if ticket is None:  # the channel is paused for long: its claims go back to the store
                await self._hand_back(claimed, gate)
                continue
            try:
                written = await self._deliver(claimed, ticket)
            except Exception as exc:  # _deliver records every outcome; this only guards the lane itself
                with contextlib.suppress(Exception):  # not even a broken log may stop a lane
                    log.exception("delivery failed unexpectedly", delivery=claimed.delivery.id)
                await self._give_up(claimed, exc)
            finally:
                ticket.close()
                # A sent delivery stays in flight until its group commit wrote it: the
                # claims of a worker never run ahead of what it has recorded.
                if written:
                    self._in_flight.discard(claimed.delivery.id)
                    self._slot_free.set()

    async def _hand_back(self, claimed: Claimed, gate: ChannelGate) -> None:
        """Release an unsent claim of a paused channel: it stays due, and is claimed again
        (here or by another worker) once the pause is over."""
        d = claimed.delivery
        try:
            await self.store.release(self.id, [d.id])
            log.info("channel paused, delivery handed back", channel=d.channel, delivery=d.id,
                     paused_for=round(gate.pause_left(), 1))
        except Exception:  # the claim stays until its lease ends (no longer renewed), then returns
            with contextlib.suppress(Exception):
                log.exception("could not hand back a delivery of a paused channel", delivery=d.id)
        finally:
            self._in_flight.discard(d.id)
            self._slot_free.set()

    async def _give_up(self, claimed: Claimed, exc: Exception) -> None:
        """Dead-letter a delivery whose handling raised, so it is not claimed again forever."""
        d = claimed.delivery
        reason = f"internal error while delivering: {type(exc).__name__}: {_one_line(exc)}"
        try:
            if await self.store.dead(d.id, self.id, self.clock(), reason=reason, duration_ms=0.0):
                self.stats.dead += 1
        except Exception:  # the claim stays; its lease ends and another try follows
            with contextlib.suppress(Exception):
                log.exception("could not dead-letter a failing delivery", delivery=d.id)

    async def _stop_senders(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders.clear()
        self._lanes.clear()
        self._lane_senders.clear()

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
                        continue
                    waiter = asyncio.create_task(self._idle_wait())
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
                        raise waiter.exception()  # type: ignore[misc]
                    outage = 0
                except StoreUnavailable as exc:
                    # The database is away: back off (up to 10 s) and resume by ourselves.
                    outage += 1
                    pause = min(10.0, 0.2 * 2 ** min(outage, 6))
                    log.warning("store unavailable, will retry", error=str(exc), retry_in=pause)
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

    async def _persist(self, call: Callable[[], Any]) -> Any:
        """Run a store write, retrying through a store outage (down, locked, disk full) for minutes.

        The send already happened: losing its outcome would mean sending it again. The
        delivery stays in flight meanwhile, so the heartbeat keeps its claim.
        """
        try:  # the usual case, without the retry machinery (tens of µs per group commit)
            return await call()
        except StoreUnavailable as exc:
            log.warning("store unavailable, will retry", error=str(exc), retry_in=0)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StoreUnavailable),
            wait=wait_exponential_jitter(multiplier=0.1, max=5),
            stop=stop_after_delay(max(PERSIST_FOR, self.lease).total_seconds()),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "store unavailable, will retry", error=str(state.outcome.exception() if state.outcome else ""),
                retry_in=round(state.upcoming_sleep, 2)),
        ):
            with attempt:
                return await call()
        return None

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

    async def _shutdown(self) -> None:
        # Claimed but not started: never sent, so they go straight back to the queue.
        for lane in self._lanes.values():
            while not lane.empty():
                self._in_flight.discard(lane.get_nowait().delivery.id)
        if self._in_flight:
            log.info("finishing in-flight sends", count=len(self._in_flight), grace=self.grace)
            await self._until_idle(self.grace)
        await self._stop_senders()
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

    # ----------------------------------------------------------------- one delivery
    async def _deliver(self, claimed: Claimed, ticket: Ticket) -> bool:
        """Send one delivery and record it; ``False`` while its success awaits the group commit."""
        d = claimed.delivery
        if claimed.event is None:
            log.error("stored event cannot be read", delivery=d.id, event_id=d.event_id, reason=claimed.problem)
            return await self._record(claimed, permanent(claimed.problem or "the stored event cannot be read",
                                                         label="unreadable_event"), 0.0)
        # The set is read once: a reload meanwhile swaps in new channels for the next sends,
        # and closes these only after this send let go of them.
        channels = self.channels
        if d.channel not in channels:
            return await self._record(claimed, permanent(f"channel {d.channel!r} is no longer configured"), 0.0)
        with channels.in_use():
            if d.route == FOLLOW_UP_ROUTE:
                result, elapsed = await self._follow_up(channels[d.channel], claimed)
            else:
                result, elapsed = await self._send(channels[d.channel], claimed, claimed.event)
        ticket.close(result, elapsed)  # before the store write: the next send need not wait for it
        self._child(metrics.delivery_seconds, d.channel).observe(elapsed)
        return await self._record(claimed, result, elapsed * 1000)

    async def _send(self, channel: Channel, claimed: Claimed, event: Event) -> tuple[SendResult, float]:
        d = claimed.delivery
        # The channel's data policy is applied here, once, so every adapter sees only what
        # its ``privacy`` allows (explain --render applies the same).
        policy = self._policies.get(d.channel)
        if policy is None:
            privacy = self.config.privacy_for(d.channel)
            policy = self._policies[d.channel] = (privacy.include, privacy.redact or (),
                                                  self.config.locale_for(d.channel))
        event = for_channel(event, *policy)
        message = Outbound(
            delivery_id=d.id,
            event=event,
            channel=d.channel,
            route=d.route,
            priority=d.priority,
            attempt=d.attempts + 1,
            folded=d.folded,
            keywords=d.keywords,
            thread_ref=claimed.thread_ref,
            progress=d.progress,
            routes=(d.route,),
            # Only for adapters that show it (Slack's buttons): one indexed read.
            case=(await FollowUpStore(self.store.connector()).case_of_event(d.event_id)
                  if getattr(channel, "shows_case", False) else None),
        )
        started = time.perf_counter()
        try:
            result = await channel.send(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an adapter bug must not lose the event: dead-letter it visibly
            log.exception("channel raised", channel=d.channel, delivery=d.id)
            result = permanent(f"internal error in channel {d.channel!r}: {type(exc).__name__}: {_one_line(exc)}",
                               label="internal")
        return result, time.perf_counter() - started

    async def _follow_up(self, channel: Channel, claimed: Claimed) -> tuple[SendResult, float]:
        """Tell ``channel`` about an action on a case it announced (see :mod:`notifier.follow_ups`)."""
        d = claimed.delivery
        started = time.perf_counter()
        method = getattr(channel, "follow_up", None)
        if method is None:
            return permanent(f"channel {d.channel!r} does not take follow-ups"), 0.0
        try:
            follow_up = await load_follow_up(self.store.connector(), self.config, claimed)
        except FollowUpPending as exc:
            return (retryable if exc.retry else permanent)(str(exc), label="not_posted"), 0.0
        try:
            result: SendResult = await method(follow_up)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an adapter bug must not lose the follow-up: dead-letter it visibly
            log.exception("channel raised", channel=d.channel, delivery=d.id)
            result = permanent(f"internal error in channel {d.channel!r}: {type(exc).__name__}: {_one_line(exc)}",
                               label="internal")
        return result, time.perf_counter() - started

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


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, cut to ``limit`` characters (for a dead letter's reason).

    URLs in it are masked: a library's error may quote a channel URL whose path is a secret.
    """
    text = mask_urls_in(" ".join(str(exc).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
