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
envelope to one of an app's connections (up to ten). A reload (:meth:`SlackSockets.follow`)
connects the tokens it adds, closes those it removes and leaves the others connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from notifier.channels.slack_config import socket_mode_channels
from notifier.slack_interactions import interactions_for

if TYPE_CHECKING:
    from notifier.service import Service

__all__ = ["SlackSockets"]

log = structlog.get_logger("notifier.slack")

# The SDK logs the WebSocket URL (a one-time ticket) and whole envelopes at debug level.
_SDK_LOG = logging.getLogger("notifier.slack.socket_mode")
_SDK_LOG.setLevel(logging.WARNING)


@dataclass
class _Socket:
    """One app-level token's connection, and the API URL it asks for its WebSocket URL."""

    base_url: str
    client: SocketModeClient
    connecting: asyncio.Task[None]


class SlackSockets:
    """The Socket Mode connections of a service, matching its configuration until stopped."""

    def __init__(self, service: Service, *, ping_interval: float = 10.0) -> None:
        self.service = service
        self.ping_interval = ping_interval
        #: The connections, by app-level token.
        self.sockets: dict[str, _Socket] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._stopped = False

    def _listener(self, app_token: str) -> Any:
        interactions = interactions_for(self.service)

        async def on_request(client: SocketModeClient, request: SocketModeRequest) -> None:
            # Acknowledge first: Slack retries an envelope left unacknowledged.
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            if request.type == "interactive":
                # Looked up at each click: after a reload, the channels of the new configuration.
                channels = interactions.socket_channels(app_token)
                if channels:
                    interactions.accept(request.payload, channels)

        return on_request

    def follow(self) -> None:
        """Connect the app-level tokens the configuration names and close the others.

        Called at start and after each reload. A token still configured with the same API
        URL keeps its connection: a reload does not make Slack's clicks wait for a reconnect.
        """
        from notifier.channels.slack import _without_userinfo

        if self._stopped:
            return
        wanted = {token: _without_userinfo(ch.base_url)
                  for token, ch in socket_mode_channels(self.service.config.channels.values()).items()}
        gone = [token for token, socket in self.sockets.items() if wanted.get(token) != socket.base_url]
        for token in gone:
            self._close(self.sockets.pop(token))
        opened = [token for token in wanted if token not in self.sockets]
        for token in opened:
            self.sockets[token] = self._open(token, wanted[token])
        if gone or opened:
            log.info("slack socket mode follows the configuration", connecting=len(opened), closed=len(gone),
                     kept=len(self.sockets) - len(opened))

    def _open(self, app_token: str, base_url: str) -> _Socket:
        web = AsyncWebClient(base_url=base_url, logger=_SDK_LOG)
        client = SocketModeClient(app_token=app_token, web_client=web, logger=_SDK_LOG,
                                  ping_interval=self.ping_interval)
        client.socket_mode_request_listeners.append(self._listener(app_token))
        return _Socket(base_url, client, asyncio.create_task(self._connect(client)))

    async def _connect(self, client: SocketModeClient) -> None:
        # connect() retries by itself until it succeeds (or the client is closed).
        await client.connect()  # type: ignore[no-untyped-call]
        if not client.closed:
            log.info("slack socket mode connected", connections=len(self.sockets))

    def _close(self, socket: _Socket) -> None:
        task = asyncio.create_task(self._shut(socket))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _shut(socket: _Socket) -> None:
        socket.connecting.cancel()  # first: a connect still under way must not open a socket after close()
        with contextlib.suppress(Exception):
            await socket.client.close()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            if socket.client.web_client.session is not None:
                await socket.client.web_client.session.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect every app-level token's socket, and hold them (following reloads) until ``stop``."""
        self.follow()
        try:
            await stop.wait()
        finally:
            self._stopped = True
            for socket in self.sockets.values():
                self._close(socket)
            self.sockets.clear()
            await asyncio.gather(*list(self._closing), return_exceptions=True)
