"""Slack's Socket Mode side, on a local WebSocket (aiohttp), for the fake Slack's ``apps.connections.open``.

What Slack does (https://docs.slack.dev/apis/events-api/using-socket-mode): once the app
connects to the URL ``apps.connections.open`` returned, Slack sends a ``hello`` message;
then each event or interaction arrives in an envelope ``{"envelope_id", "type",
"payload", "accepts_response_payload"}`` (``type: interactive`` for a button click), and
the app must answer ``{"envelope_id": …}`` to acknowledge it, or Slack sends it again.
The URL names its connection with a ``ticket`` (``wss://…/link/?ticket=12348&app_id=5678`` in
https://docs.slack.dev/reference/methods/apps.connections.open): the fake records which tickets
were opened and which the app closed, so a test can tell one app-level token's socket from another's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.sink import free_port


class FakeSocketMode:
    """A WebSocket endpoint that greets, pushes envelopes and records acknowledgements."""

    def __init__(self) -> None:
        self.acks: list[str] = []
        self.connections = 0
        #: The ticket of each connection the app opened, and of each it closed, in order.
        self.opened: list[str] = []
        self.closed: list[str] = []
        self._by_ticket: dict[str, web.WebSocketResponse] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self._acked = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return self.url_for("test-ticket")

    def url_for(self, ticket: str) -> str:
        """The WebSocket URL ``apps.connections.open`` hands out, naming its connection ``ticket``."""
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A000"

    def still_open(self, ticket: str) -> bool:
        """Whether the app holds a connection opened with ``ticket``."""
        return self.opened.count(ticket) > self.closed.count(ticket)

    async def start(self) -> FakeSocketMode:
        app = web.Application()
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        ticket = request.query.get("ticket", "")
        self.connections += 1
        self.opened.append(ticket)
        self._sockets.append(ws)
        self._by_ticket[ticket] = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": self.connections,
                                      "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A000"}}))
        self._connected.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if "envelope_id" in data:
                        async with self._acked:
                            self.acks.append(str(data["envelope_id"]))
                            self._acked.notify_all()
        finally:
            self.closed.append(ticket)
        return ws

    async def connected(self, timeout: float = 15.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def send_interactive(self, payload: dict[str, Any], ticket: str | None = None) -> str:
        """Push a click to the app (over the connection of ``ticket``, else the last one); the envelope's id."""
        envelope = uuid.uuid4().hex
        ws = self._by_ticket[ticket] if ticket is not None else self._sockets[-1]
        await ws.send_str(json.dumps({"envelope_id": envelope, "type": "interactive",
                                                     "payload": payload, "accepts_response_payload": False,
                                                     "retry_attempt": 0, "retry_reason": ""}))
        return envelope

    async def send_raw(self, text: str) -> None:
        """Push any text over the last connection, as a faulty or newer Slack might."""
        await self._sockets[-1].send_str(text)

    async def acknowledged(self, envelope: str, timeout: float = 10.0) -> None:
        async with self._acked:
            await asyncio.wait_for(self._acked.wait_for(lambda: envelope in self.acks), timeout)
