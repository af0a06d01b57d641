"""Read deadlines and a connection cap for the HTTP server, so slow clients cannot starve it.

uvicorn bounds the idle time between two requests of a connection (``timeout_keep_alive``)
but not the time a client takes to send a request: a "slowloris" client that trickles its
headers or its body one byte at a time holds a connection, and a file descriptor, for as
long as it likes. A few thousand of them and the API stops answering, or the process runs
out of descriptors and the worker can no longer open the database or reach a channel.

This module runs uvicorn's own HTTP protocol with three limits:

* ``header_timeout``: the request line and headers must arrive within this many seconds
  of the connection opening (or of the client starting its next request on a kept-alive
  connection); else the server answers ``408`` and closes.
* ``body_timeout``: the whole body must arrive within this many seconds of the headers;
  else the connection is closed (the handler sees the client gone, nothing is stored).
* ``max_connections``: open connections are capped (by default below the process's
  file-descriptor limit, keeping a reserve for the store and the channels). When a new
  connection would pass the cap, the connection that has waited longest on its client
  (slow head or body, or idle between requests) is closed to make room, so a legitimate
  client is still served while slow ones hold the rest; only if every connection is busy
  in a handler is the new one refused.

Every connection closed this way is counted in ``notifier_http_connections_dropped_total``.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
import uvicorn
from starlette.requests import Request
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from notifier import metrics

__all__ = ["Limits", "connection_cap", "read_body", "uvicorn_config"]

log = structlog.get_logger("notifier.http")

_TIMEOUT_BODY = b'{"error":"the request was not received in time"}'
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                     b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY)


@dataclass(frozen=True)
class Limits:
    """How long a client may take to send a request, and how many connections may be open."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: ``None``: as many as the file-descriptor limit allows, at most 10,000 (see :func:`connection_cap`).
    max_connections: int | None = None


def connection_cap(requested: int | None = None) -> int:
    """The connection cap: ``requested`` (default 10,000), kept under ``RLIMIT_NOFILE``.

    A quarter of the descriptors (at least 64) stays free for the database, the channels'
    connections, the capture inbox and the logs.
    """
    wanted = requested or 10_000
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - max(64, soft // 4)))


class _GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and a share of the connection cap."""

    limits: ClassVar[Limits]
    cap: ClassVar[int]
    #: This server's connections, the one that has waited longest on its client first
    #: (moved to the end whenever it starts waiting again): making room costs O(1).
    by_wait: ClassVar[OrderedDict[_GuardedProtocol, None]]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._busy = False  # a complete request is in the handler: never dropped for room
        self.by_wait[self] = None
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, "header_timeout")
        if len(self.connections) > self.cap:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.by_wait.pop(self, None)
        super().connection_lost(exc)

    # httptools calls these by name as it parses.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request of a kept-alive connection
            self._waiting_again()
            self._arm(self.limits.header_timeout, "header_timeout")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.body_timeout, "body_timeout")

    def on_message_complete(self) -> None:
        self._disarm()
        self._busy = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._busy = False
        self._waiting_again()
        super().on_response_complete()

    # ----------------------------------------------------------------- limits
    def _waiting_again(self) -> None:
        if self in self.by_wait:
            self.by_wait.move_to_end(self)

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._drop, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _drop(self, reason: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        metrics.connections_dropped.labels(reason).inc()
        log.debug("connection dropped", reason=reason, client=self.client)
        if reason != "cap" and (self.cycle is None or self.cycle.response_complete):
            # No handler is answering on this connection: say why before closing.
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def _make_room(self) -> None:
        # Only connections busy in a handler are skipped: few, whatever the number of clients.
        for other in self.by_wait:
            if other is not self and not other._busy and not other.transport.is_closing():
                other._drop("cap")
                return
        self._drop("cap")


def uvicorn_config(app: Any, *, limits: Limits | None = None, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with :class:`Limits` (defaults when ``None``)."""
    limits = limits or Limits()
    protocol = type("GuardedHttpProtocol", (_GuardedProtocol,),
                    {"limits": limits, "cap": connection_cap(limits.max_connections), "by_wait": OrderedDict()})
    # log_config None: uvicorn's records go to the root logger, rendered as ours (notifier.logs).
    options = {"log_level": "warning", "access_log": False, "log_config": None, **options}
    return uvicorn.Config(app, http=protocol, **options)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or ``None`` when it is larger than ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading; otherwise the
    body is read only until it passes the limit, so an oversized upload is never buffered whole.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
