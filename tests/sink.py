"""A webhook sink on 127.0.0.1: records what it receives, answers what the test scripts.

It runs a real HTTP server (uvicorn) in a background thread, so the code under test
talks real HTTP over loopback.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn


@dataclass
class Received:
    """One request the sink got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Reply:
    """What to answer."""

    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)


def _event_id(body: bytes) -> str | None:
    try:
        return str(orjson.loads(body)["event"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """Start with ``with Sink() as sink:``; ``sink.url`` is where to post."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.script: deque[Reply] = deque()
        self.responder: Callable[[Received], Reply] | None = None
        #: Seconds the sink takes to answer (a slow remote), 0 by default.
        self.latency = 0.0
        #: Answer 429 to every n-th request (0: never), as a receiver that limits its clients.
        self.refuse_every = 0
        #: Requests being answered now, the most at once, and answers by status (``/_summary``).
        self.in_flight = 0
        self.peak = 0
        self.statuses: dict[int, int] = {}
        self.last_ok = 0.0
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order (then 200)."""
        self.script.extend(replies)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["path"] == "/_stats":
            with self._lock:
                stats = [[r.headers.get("idempotency-key", ""), r.at, _event_id(r.body)] for r in self.received]
            payload = orjson.dumps(stats)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        if scope["path"] in ("/_summary", "/_reset"):
            with self._lock:
                if scope["path"] == "/_reset":
                    self.received.clear()
                    self.peak, self.statuses, self.last_ok = 0, {}, 0.0
                summary = {"requests": len(self.received), "peak_in_flight": self.peak,
                           "statuses": self.statuses, "first": self.received[0].at if self.received else None,
                           "last_ok": self.last_ok}
            payload = orjson.dumps(summary, option=orjson.OPT_NON_STR_KEYS)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        req = Received(scope["method"], scope["path"],
                       {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body, time.time())
        with self._lock:
            self.received.append(req)
            reply = self.script.popleft() if self.script else None
            if reply is None and self.refuse_every and len(self.received) % self.refuse_every == 0:
                reply = Reply(429, b'{"error":"too many requests"}')
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if reply is None:
            reply = self.responder(req) if self.responder else Reply()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
                if 200 <= reply.status < 300:
                    self.last_ok = time.time()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(reply.body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    def start(self) -> Sink:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="error",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("sink did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def keys(self) -> set[str]:
        """The ``Idempotency-Key`` of every request received."""
        with self._lock:
            return {r.headers.get("idempotency-key", "") for r in self.received}

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` requests arrived (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"sink got {len(self.received)} requests, expected {count}")
            await asyncio.sleep(0.01)


if __name__ == "__main__":  # a sink in its own process: python -m tests.sink PORT [LATENCY_SECONDS [REFUSE_EVERY]]
    import sys

    sink = Sink(int(sys.argv[1]))
    sink.latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    sink.refuse_every = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    uvicorn.run(sink, host="127.0.0.1", port=sink.port, log_level="error", access_log=False,
                lifespan="off", http="httptools", loop="uvloop")
