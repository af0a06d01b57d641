"""The send of one delivery (mixed into :class:`~notifier.worker.Worker`).

A sender of a channel's lane hands each claimed delivery here: it is sent (or, for an
action on a case, followed up) through the channel with the channel's data policy
applied, and its outcome recorded (:mod:`notifier.worker_outcomes`). A channel that
raises dead-letters that delivery alone, with a plain reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import structlog

from notifier import metrics
from notifier.channel_gate import Ticket
from notifier.channels.base import Channel, Outbound, SendResult, permanent, retryable
from notifier.channels.channel_set import ChannelSet
from notifier.config.models import Config
from notifier.core.events import Event
from notifier.core.masking import error_line
from notifier.core.privacy import for_channel
from notifier.follow_ups import FOLLOW_UP_ROUTE, FollowUpPending, load_follow_up
from notifier.store.base import Claimed, Store
from notifier.store.follow_ups import FollowUpStore
from notifier.store.privacy import ERASED_EVENT, SubjectStore

__all__ = ["WorkerDelivery"]

log = structlog.get_logger("notifier.worker")


class WorkerDelivery:
    """Send one claimed delivery and record its outcome; needs the worker's store,
    configuration, channels and the recording of :class:`~notifier.worker_outcomes.WorkerOutcomes`."""

    store: Store
    config: Config
    channels: ChannelSet
    _policies: dict[str, tuple[Collection[str] | None, Collection[str], str]]

    if TYPE_CHECKING:
        async def _record(self, claimed: Claimed, result: SendResult, duration_ms: float) -> bool: ...

        def _child(self, metric: Any, *labels: str) -> Any: ...

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
        if event.labels.get("erased") == "true" and await SubjectStore(self.store.connector()).erased_among(
                [d.event_id]):
            # Its event was erased while the alert was on its way (a retry): the store's mark says so
            # (the label alone is the visitor's to write; migration 0014 marked earlier erasures).
            # Sent, it would be an empty shell, an escalation or acknowledgement as any alert. A
            # replay of an erased event is refused before it gets here (store.base.NOT_ERASED).
            return permanent(ERASED_EVENT, label="erased"), 0.0
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
            result = permanent(f"internal error in channel {d.channel!r}: {type(exc).__name__}: {error_line(exc)}",
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
            result = permanent(f"internal error in channel {d.channel!r}: {type(exc).__name__}: {error_line(exc)}",
                               label="internal")
        return result, time.perf_counter() - started

