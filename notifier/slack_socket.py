"""Slack Socket Mode: clicks arrive over a WebSocket the app opens, for installs with no public URL.

With ``socket_mode: true`` and an app-level token (``xapp-…``, scope ``connections:write``),
notifier asks Slack for a WebSocket URL (``apps.connections.open``) and keeps a connection
open with slack-sdk's Socket Mode client (aiohttp flavour), which reconnects by itself.
Each ``interactive`` envelope is acknowledged at once (``{"envelope_id": …}``, as Slack
requires within three seconds: https://docs.slack.dev/apis/events-api/using-socket-mode)
and its payload goes to the same handler as the Request URL
(:class:`notifier.slack_interactions.Interactions`). The connection itself is the proof
of origin: no signing secret is involved.

One connection per app-level token, in each process that runs a worker; Slack sends each
envelope to one of an app's connections (up to ten).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from notifier.channels.slack_config import SlackChannel
from notifier.slack_interactions import interactions_for

if TYPE_CHECKING:
    from notifier.service import Service

__all__ = ["SlackSockets", "wants_sockets"]

log = structlog.get_logger("notifier.slack")

# The SDK logs the WebSocket URL (a one-time ticket) and whole envelopes at debug level.
_SDK_LOG = logging.getLogger("notifier.slack.socket_mode")
_SDK_LOG.setLevel(logging.WARNING)


def _socket_channels(service: Service) -> dict[str, SlackChannel]:
    """One channel per app-level token (the first that names it): its base URL is used."""
    out: dict[str, SlackChannel] = {}
    for ch in service.config.channels.values():
        if isinstance(ch, SlackChannel) and ch.socket_mode and ch.app_token and ch.app_token not in out:
            out[ch.app_token] = ch
    return out


def wants_sockets(service: Service) -> bool:
    """Whether a Slack channel of the configuration receives its clicks over Socket Mode."""
    return bool(_socket_channels(service))


class SlackSockets:
    """The Socket Mode connections of a service, open until stopped."""

    def __init__(self, service: Service, *, ping_interval: float = 10.0) -> None:
        self.service = service
        self.ping_interval = ping_interval
        self.clients: list[SocketModeClient] = []
        #: Set once every connection is established (tests wait on it).
        self.connected = asyncio.Event()

    def _listener(self, app_token: str) -> Any:
        interactions = interactions_for(self.service)

        async def on_request(client: SocketModeClient, request: SocketModeRequest) -> None:
            # Acknowledge first: Slack retries an envelope left unacknowledged.
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            if request.type == "interactive":
                channels = interactions.socket_channels(app_token)
                if channels:
                    interactions.accept(request.payload, channels)

        return on_request

    async def _connect_all(self) -> None:
        # connect() retries by itself until it succeeds (or the client is closed).
        await asyncio.gather(*(c.connect() for c in self.clients))  # type: ignore[no-untyped-call]
        log.info("slack socket mode connected", connections=len(self.clients))
        self.connected.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect every app-level token's socket, and hold them until ``stop``."""
        from notifier.channels.slack import _without_userinfo

        for app_token, ch in _socket_channels(self.service).items():
            web = AsyncWebClient(base_url=_without_userinfo(ch.base_url), logger=_SDK_LOG)
            client = SocketModeClient(app_token=app_token, web_client=web, logger=_SDK_LOG,
                                      ping_interval=self.ping_interval)
            client.socket_mode_request_listeners.append(self._listener(app_token))
            self.clients.append(client)
        connecting = asyncio.create_task(self._connect_all())
        try:
            await stop.wait()
        finally:
            for client in self.clients:
                with contextlib.suppress(Exception):
                    await client.close()  # type: ignore[no-untyped-call]
            connecting.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*(c.web_client.session.close() for c in self.clients
                                       if c.web_client.session is not None))
