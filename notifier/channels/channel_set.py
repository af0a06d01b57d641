"""The channels of one loaded configuration, closed only once nothing uses them any more.

A reload builds a new :class:`ChannelSet` and retires the old one. Sends that already
started keep their channel objects (and their open connections) until they return; the
old set closes its channels when the last of them is done. So a reload never cuts a
delivery or a digest in the middle of a request ("client has been closed").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

import structlog

from notifier.channels.base import Channel

__all__ = ["ChannelSet"]

log = structlog.get_logger("notifier.channels")


class ChannelSet(Mapping[str, Channel]):
    """Channels by name, with a count of the sends using them.

    Example::

        with channels.in_use():
            result = await channels["support-email"].send(message)
    """

    def __init__(self, channels: Mapping[str, Channel] | None = None) -> None:
        self._channels = dict(channels or {})
        self._users = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __contains__(self, name: object) -> bool:  # asked before every send: the dict's own test, not Mapping's
        return name in self._channels

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    @property
    def users(self) -> int:
        """How many sends are using these channels right now."""
        return self._users

    @property
    def closed(self) -> bool:
        """Whether the channels were closed (after :meth:`retire`)."""
        return self._closed

    def in_use(self) -> ChannelSet:
        """Hold the channels open for the length of a send: ``with channels.in_use(): …``."""
        return self

    # The set is its own context manager, a generator's costs more on every send.
    def __enter__(self) -> ChannelSet:
        self._users += 1
        self._idle.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._users -= 1
        if self._users == 0:
            self._idle.set()

    async def retire(self) -> None:
        """Close every channel once the sends still using them have returned."""
        await self._idle.wait()
        await self.aclose()

    async def aclose(self) -> None:
        """Close every channel now (best effort: a failure is logged, the others still close)."""
        if self._closed:
            return
        self._closed = True
        for channel in self._channels.values():
            try:
                await channel.aclose()
            except Exception:  # nothing is pending on it any more: log and go on
                log.exception("closing channel failed", channel=channel.name)
