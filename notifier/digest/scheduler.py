"""The digest scheduler: sends every configured digest once per period (see :mod:`notifier.digest`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog

from notifier.channels.base import Channel, Report, SendResult, permanent
from notifier.channels.channel_set import ChannelSet
from notifier.config.models import Config, Digest
from notifier.core.digest import DigestStats, Period, due_period, next_fire
from notifier.digest.report import build_report
from notifier.render import Renderer
from notifier.store.base import Store
from notifier.store.measures import MeasureStore

__all__ = ["DigestResult", "DigestScheduler", "digest_locale", "digest_zone"]

log = structlog.get_logger("notifier.digest")


@dataclass
class DigestResult:
    """What happened to one digest period."""

    digest: str
    period: Period
    #: ``sent`` (every channel), ``partial``, ``failed``, ``skipped`` (empty) or ``already`` (claimed elsewhere).
    status: str
    channels: dict[str, SendResult] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        return "; ".join(f"{n}: {r.status}{' (' + r.reason + ')' if r.reason else ''}"
                         for n, r in self.channels.items())


def digest_zone(config: Config, digest: Digest) -> str:
    """The time zone a digest is read in."""
    return str(digest.timezone or config.defaults.timezone)


def digest_locale(config: Config, digest: Digest) -> str:
    """The language a digest is written in."""
    return digest.locale or config.defaults.locale


class DigestScheduler:
    """Sends every configured digest once per period.

    ``channels`` are the built channels by name; ``worker_id`` names this process in the
    claims. ``retry_delays`` are the waits between tries of a channel that failed with a
    retryable error (its ``Retry-After`` wins when longer, up to a minute).
    """

    def __init__(self, config: Config, store: Store, channels: Mapping[str, Channel], renderer: Renderer,
                 worker_id: str, *, retry_delays: tuple[float, ...] = (5.0, 30.0)) -> None:
        self.config = config
        self.store = store
        self.channels = channels if isinstance(channels, ChannelSet) else ChannelSet(channels)
        self.renderer = renderer
        self.worker_id = worker_id
        self.retry_delays = retry_delays
        self._changed = asyncio.Event()
        #: Periods that ended before this are not sent: on a brand-new install, the latest
        #: due period is a day before notifier existed and has nothing true to report.
        self.not_before: datetime | None = None

    def reconfigure(self, config: Config, channels: ChannelSet, renderer: Renderer) -> None:
        """Use a newly loaded configuration: its digests, schedules, channels and templates.

        A digest being sent finishes on the channels it started with; the scheduler wakes
        up to work out the next fire time of the new schedules.
        """
        self.config, self.channels, self.renderer = config, channels, renderer
        self._changed.set()

    # ----------------------------------------------------------------- schedule
    def due(self, digest: Digest, now: datetime) -> Period:
        """The latest period of ``digest`` that is due at ``now``."""
        return due_period(digest.schedule, ZoneInfo(digest_zone(self.config, digest)), now)

    async def tick(self, now: datetime) -> list[DigestResult]:
        """Send every digest whose latest due period nobody has claimed yet."""
        results = []
        for digest in self.config.digests:
            period = self.due(digest, now)
            if self.not_before is not None and period.end <= self.not_before:
                continue
            if not await self.store.claim_digest(digest.name, period.start, period.end,
                                                 self.worker_id, now):
                continue
            results.append(await self.send(digest, period, now))
        return results

    def next_wake(self, now: datetime) -> datetime | None:
        """When the next digest is due."""
        fires = [next_fire(d.schedule, ZoneInfo(digest_zone(self.config, d)), now)
                 for d in self.config.digests]
        return min(fires) if fires else None

    async def run(self, stop: asyncio.Event) -> None:
        """Tick at every fire time until ``stop`` is set (a reload wakes it up early)."""
        if self.not_before is None:
            try:
                self.not_before = await self.store.installed_at()
            except Exception:  # an older database without the column: send as before
                log.warning("cannot tell when the database was created", exc_info=True)
        while not stop.is_set():
            self._changed.clear()
            now = datetime.now(UTC)
            try:
                await self.tick(now)
            except Exception:  # a broken digest must not stop the scheduler: log, try next time
                log.exception("digest run failed")
            wake = self.next_wake(datetime.now(UTC))
            # Capped so that a clock change or a suspended machine is noticed within the hour.
            delay = 3600.0 if wake is None else min(max((wake - datetime.now(UTC)).total_seconds(), 0.0) + 0.5,
                                                    3600.0)
            stopped = asyncio.ensure_future(stop.wait())
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({stopped, changed}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                changed.cancel()

    # ----------------------------------------------------------------- one period
    async def stats(self, digest: Digest, period: Period) -> DigestStats:
        """The statistics of one period, counted by the store, with what the retention purges removed."""
        from notifier.store.retention import RetentionStore

        stats = await self.store.digest_stats(
            period.start, period.end, site=digest.site, tz=digest_zone(self.config, digest),
            top_n=digest.top_n, previous_start=period.previous_start)
        if digest.site is None:  # a purge is not per site: a site's digest does not claim it
            stats.health.purged = await RetentionStore(self.store.connector()).removed_between(
                period.start, period.end)
        # How the team answered: from the cases layer, on whichever backend (notifier.store.measures).
        measures = MeasureStore(self.store.connector())
        if "response_times" in digest.sections:
            stats.response_times = await measures.response_times(
                period.start, period.end, site=digest.site, at=period.end,
                business_hours=self.config.defaults.response_clock != "wall")
        if "satisfaction" in digest.sections:
            stats.satisfaction = await measures.satisfaction(period.start, period.end, site=digest.site)
        return stats

    def report(self, digest: Digest, period: Period, stats: DigestStats) -> Report:
        """The rendered digest."""
        return build_report(self.renderer, self.config, digest, period, stats)

    async def send(self, digest: Digest, period: Period, now: datetime) -> DigestResult:
        """Compute, render and send a claimed period; record the outcome on the claim."""
        try:
            stats = await self.stats(digest, period)
            if stats.empty and digest.skip_empty:
                result = DigestResult(digest.name, period, "skipped")
                await self.store.finish_digest(digest.name, period.start, now, ok=True,
                                               detail="nothing to report: not sent (skip_empty)")
                return result
            report = self.report(digest, period, stats)
        except Exception as exc:
            log.exception("digest could not be prepared", digest=digest.name)
            await self.store.finish_digest(digest.name, period.start, now, ok=False,
                                           detail=f"could not be prepared: {exc}")
            return DigestResult(digest.name, period, "failed")
        held = self.channels  # held whole: a reload meanwhile closes them only after this run
        with held.in_use():
            outcomes = await asyncio.gather(*(self._send_one(held, name, report) for name in digest.to))
        channels = dict(zip(digest.to, outcomes, strict=True))
        ok = [r.ok for r in outcomes]
        status = "sent" if all(ok) else "partial" if any(ok) else "failed"
        result = DigestResult(digest.name, period, status, channels)
        await self.store.finish_digest(digest.name, period.start, datetime.now(UTC), ok=all(ok),
                                       detail=result.detail)
        log.info("digest sent" if all(ok) else "digest not fully sent", digest=digest.name,
                 start=period.start.isoformat(), status=status, detail=result.detail)
        return result

    async def _send_one(self, channels: ChannelSet, name: str, report: Report) -> SendResult:
        channel = channels.get(name)
        if channel is None:
            return permanent(f"channel {name!r} is not available")
        result = SendResult("retry", "not tried")
        for delay in (*self.retry_delays, None):
            try:
                result = await channel.send_report(report)
            except Exception as exc:  # the port says never raise; a bug must not lose the others
                result = permanent(f"{type(exc).__name__}: {exc}")
            if result.status != "retry" or delay is None:
                return result
            await asyncio.sleep(min(max(delay, result.retry_after or 0.0), 60.0))
        return result
