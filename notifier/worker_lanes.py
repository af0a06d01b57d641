"""Each channel's lane in the worker (mixed into :class:`~notifier.worker.Worker`).

A lane is a queue of claimed deliveries of one channel and as many long-lived senders as
the channel's in-flight limit may reach; the channel's gate (:mod:`notifier.channel_gate`)
lets its current limit send at once, and a channel paused for long hands its claims back.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog

from notifier.channel_gate import ChannelGate, Ticket, view
from notifier.config.models import Config
from notifier.store.base import Claimed, Store

__all__ = ["WorkerLanes"]

log = structlog.get_logger("notifier.worker")


class WorkerLanes:
    """One lane per channel, fed by the claim loop; needs the worker's store, configuration,
    claims in flight, and the send of :class:`~notifier.worker_delivery.WorkerDelivery`."""

    store: Store
    config: Config
    id: str
    _lanes: dict[str, asyncio.Queue[Claimed]]
    _gates: dict[str, ChannelGate]
    _lane_senders: dict[str, int]
    _senders: list[asyncio.Task[None]]
    _in_flight: set[str]
    _slot_free: asyncio.Event

    if TYPE_CHECKING:
        async def _deliver(self, claimed: Claimed, ticket: Ticket) -> bool: ...

        async def _give_up(self, claimed: Claimed, exc: Exception) -> None: ...

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

    async def _stop_senders(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders.clear()
        self._lanes.clear()
        self._lane_senders.clear()

