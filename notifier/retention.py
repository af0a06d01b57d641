"""The retention purge: once a day, remove what is older than ``defaults.retention`` says.

Every ``serve`` and ``worker`` process runs a :class:`Purger`; the day's purge is claimed
by one row per day in the database (``purge_runs``), so exactly one process purges each
day whatever the number of processes, machines or restarts (a claim left by a process
that died is taken over after an hour). The purge removes rows in batches of at most
``batch_size`` (:mod:`notifier.store.retention` lists what, in which order), one short
transaction each (about 50 ms) and a pause at least as long between them (:class:`Pace`),
so the API keeps accepting events while a million rows go. Then the store reclaims the
space (SQLite: incremental vacuum and an emptied WAL; PostgreSQL: ``VACUUM``). It also
forgets the helpdesk webhooks' replay memories past their window (:mod:`notifier.store.inbound_seen`).

What was removed is logged (``retention purge`` with a count per table), counted in
``notifier_purged_total{table}`` and recorded on the day's row, which the digest's
``delivery_health`` section reports. ``notifier privacy purge [--dry-run]`` runs it now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from notifier import metrics
from notifier.config.models import Config
from notifier.store.base import Store
from notifier.store.inbound_seen import InboundSeenStore
from notifier.store.retention import PURGED_TABLES, Cutoffs, Purged, RetentionStore

__all__ = ["BATCH_SIZE", "Pace", "Purger", "cutoffs", "due_day"]

log = structlog.get_logger("notifier.retention")

#: Rows per transaction at most (fewer when a batch takes longer than 50 ms, see :class:`Pace`).
BATCH_SIZE = 1000
#: A claim older than this, still running or failed, is taken over by another process.
STALE_AFTER = timedelta(hours=1)


def cutoffs(config: Config, now: datetime) -> Cutoffs:
    """What is older than these at ``now`` is past its age."""
    r = config.defaults.retention
    return Cutoffs.at(now, events=r.events, deliveries=r.deliveries, cases=r.cases)


def due_day(config: Config, now: datetime) -> tuple[str, datetime]:
    """The day whose purge is due at ``now`` (``YYYY-MM-DD``, local) and when the next one is.

    The purge of a local day is due from ``retention.at`` that day on: before that time,
    the previous day's is the one due (it may not have run, e.g. on a new install).
    """
    zone = ZoneInfo(str(config.defaults.timezone))
    local = now.astimezone(zone)
    at = config.defaults.retention.at_time
    today_at = datetime.combine(local.date(), at, zone)
    if local >= today_at:
        day, upcoming = local.date(), datetime.combine(local.date() + timedelta(days=1), at, zone)
    else:
        day, upcoming = local.date() - timedelta(days=1), today_at
    return day.isoformat(), upcoming.astimezone(UTC)


class Pace:
    """How many rows the next batch removes, and how long to wait after one.

    A batch holds the database's write lock while it runs: other writers (the API, the
    workers; on SQLite, other processes too) wait that long. Batches are sized to take
    about ``target`` seconds (at most ``largest`` rows, at least 50), and the purge then
    waits at least as long as the batch took, so it never holds the lock more than half
    the time, and a writer of another process backing off for the lock finds it free.
    """

    def __init__(self, largest: int, pause: float, target: float = 0.05) -> None:
        self.largest = largest
        self.size = largest
        self.pause = pause
        self.target = target

    def after(self, took: float) -> float:
        """Adjust to a batch that took ``took`` seconds; the wait before the next one."""
        if took > self.target * 1.5:
            self.size = max(min(50, self.largest), self.size // 2)
        elif took < self.target / 2:
            self.size = min(self.largest, self.size * 2)
        return max(self.pause, took)


class Purger:
    """Removes what is past its age, once a day across processes (or now, for the command line).

    ``config`` is read at each run (a reload changes the ages from the next one);
    ``pause`` is the least wait between two batches, which lets other writers in.
    """

    def __init__(self, store: Store, config: Callable[[], Config], worker_id: str,
                 clock: Callable[[], datetime], *, batch_size: int = BATCH_SIZE, pause: float = 0.005) -> None:
        self.store = store
        self.config = config
        self.worker_id = worker_id
        self.clock = clock
        self.batch_size = batch_size
        self.pause = pause
        self.retention = RetentionStore(store.connector())

    async def tick(self, now: datetime, stop: asyncio.Event | None = None) -> Purged | None:
        """Purge if this process is the one to claim the day due at ``now``; ``None`` otherwise."""
        day, _ = due_day(self.config(), now)
        if not await self.retention.claim_day(day, self.worker_id, now, stale_after=STALE_AFTER):
            return None
        return await self._recorded(day, now, stop)

    async def run_now(self, now: datetime, *, dry_run: bool = False) -> Purged:
        """Purge now, whoever purged today (``notifier privacy purge``); a dry run only counts."""
        if dry_run:
            return await self.retention.count(cutoffs(self.config(), now))
        # Recorded under a key of its own, so the digest reports it and the daily run still happens.
        key = f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z by hand"
        if not await self.retention.claim_day(key, self.worker_id, now, stale_after=STALE_AFTER):
            raise RuntimeError(f"a purge named {key!r} already exists")
        return await self._recorded(key, now, None)

    async def _recorded(self, day: str, now: datetime, stop: asyncio.Event | None) -> Purged:
        purged = Purged()
        ok = False
        try:
            purged = await self.purge(now, stop)
            ok = stop is None or not stop.is_set()
            return purged
        finally:
            # Shielded: a process stopping during the purge still says how far it got.
            await asyncio.shield(self.retention.finish_day(day, self.worker_id, self.clock(), purged, ok=ok))

    async def purge(self, now: datetime, stop: asyncio.Event | None = None) -> Purged:
        """Remove everything past its age at ``now``, batch by batch; stops early when ``stop`` is set."""
        cut = cutoffs(self.config(), now)
        out = Purged()
        started = time.monotonic()
        pace = Pace(self.batch_size, self.pause)

        async def batches(one: Callable[[int], Awaitable[int]]) -> None:
            while stop is None or not stop.is_set():
                n = pace.size
                t0 = time.monotonic()
                found = await one(n)
                if found < n:
                    return
                await asyncio.sleep(pace.after(time.monotonic() - t0))

        async def deliveries(n: int) -> int:
            removed = await self.retention.purge_deliveries(cut, now, n)
            out.rows.update(removed)
            return removed["deliveries"]

        async def events(n: int) -> int:
            removed, found = await self.retention.purge_events(cut, now, n)
            out.rows.update(removed)
            return found

        async def cases(n: int) -> int:
            removed = await self.retention.purge_cases(cut, n)
            out.rows.update(removed)
            return removed["cases"]

        def sweep(table: str) -> Callable[[int], Awaitable[int]]:
            async def one(n: int) -> int:
                removed = await self.retention.sweep(table, cut, n)
                out.rows[table] += removed
                return removed
            return one

        for step in (deliveries, events, cases, sweep("dedup"), sweep("threads")):
            await batches(step)
        # Replay memories past their window: each claim forgets them too, but a helpdesk may
        # not call again for months. No personal data (signatures, ticket numbers): not reported.
        inbound = await InboundSeenStore(self.store.connector()).purge(now)
        out.held = await self.retention.held(cut)
        for table in PURGED_TABLES:
            if out.rows.get(table):
                metrics.purged.labels(table).inc(out.rows[table])
        seconds = time.monotonic() - started
        # Freed pages, the SQLite log, PostgreSQL's dead rows: see docs/privacy.md.
        emptied = await self.store.connector().reclaim(list(PURGED_TABLES)) if out.total else True
        log.info("retention purge", **{t: out.rows.get(t, 0) for t in PURGED_TABLES}, held_pending=out.held,
                 seconds=round(seconds, 3), rows_per_second=round(out.total / seconds) if seconds else None,
                 events_before=cut.events.isoformat(), deliveries_before=cut.deliveries.isoformat(),
                 cases_before=cut.cases.isoformat(), stopped=bool(stop is not None and stop.is_set()),
                 files_scrubbed=emptied, inbound_seen=inbound)
        return out

    async def run(self, stop: asyncio.Event) -> None:
        """Purge each day it is this process's turn, until ``stop`` is set."""
        while not stop.is_set():
            now = self.clock()
            try:
                await self.tick(now, stop)
            except Exception:  # a failed purge must not stop the process: it is tried again later
                log.exception("retention purge failed")
            _, upcoming = due_day(self.config(), self.clock())
            # Capped: a claim left by a process that died is looked at again within the hour.
            delay = min(max((upcoming - self.clock()).total_seconds(), 1.0), STALE_AFTER.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
