"""The benches' webhook receiver: a lean HTTP/1.1 server in its own process.

    python bench/receiver.py PORT [LATENCY_SECONDS [REFUSE_EVERY]]

A real receiver runs on another machine; here it shares the two cores with whatever is
measured, so every microsecond it spends per request is taken from the contenders. The
test suite's sink (:mod:`tests.sink`: uvicorn and an ASGI app, scripted answers, every
header kept) spends 82–121 µs of CPU per request; this one, an ``asyncio.Protocol`` with
httptools' parser on uvloop that keeps only what the benches read, 25–39 µs, about a third
(``python bench/receiver.py --compare``: raw aiohttp posting to each, the receiver's own
CPU read from ``/proc``; two runs). Raw aiohttp posts as fast to either: one client
process is the limit, not the receiver.

It answers every ``POST`` (any path) ``200 {"ok":true}``, after ``LATENCY_SECONDS`` if
given (a remote service), and ``429`` to every ``REFUSE_EVERY``-th request (a receiver that
limits its clients). What the benches read, as :mod:`tests.sink` serves it:

- ``/_summary``: ``requests`` received, ``peak_in_flight`` (answers delayed at once),
  ``statuses`` (answers by status), ``first`` (arrival of the first request) and
  ``last_ok`` (when the last 2xx was answered), as Unix times;
- ``/_stats``: ``[idempotency_key, arrival, event_id]`` per request (the event id read
  from the body's ``event.id`` only when asked, not on the hot path);
- ``/_reset``: forget everything received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any, cast

import httptools
import orjson

#: The repository: ``--compare`` imports the spine's client and starts :mod:`tests.sink` from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OK = b'{"ok":true}'
_REFUSED = b'{"error":"too many requests"}'
_REASONS = {200: b"OK", 400: b"Bad Request", 429: b"Too Many Requests"}


def _response(status: int, body: bytes, *, close: bool = False) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status, _REASONS[status], len(body))
    return head + (b"connection: close\r\n\r\n" if close else b"\r\n") + body


def _event_id(body: bytes) -> str | None:
    try:
        return str(orjson.loads(body)["event"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


class Receiver:
    """What was received, shared by every connection."""

    def __init__(self, latency: float = 0.0, refuse_every: int = 0) -> None:
        self.latency = latency
        self.refuse_every = refuse_every
        #: (Idempotency-Key, arrival, body) of each request, in arrival order.
        self.got: list[tuple[bytes, float, bytes]] = []
        self.in_flight = 0
        self.peak = 0
        self.statuses: dict[int, int] = {}
        self.last_ok = 0.0

    def reset(self) -> None:
        self.got.clear()
        self.peak, self.statuses, self.last_ok = 0, {}, 0.0

    def summary(self) -> dict[str, Any]:
        return {"requests": len(self.got), "peak_in_flight": self.peak, "statuses": self.statuses,
                "first": self.got[0][1] if self.got else None, "last_ok": self.last_ok}

    def stats(self) -> list[list[Any]]:
        return [[key.decode(errors="replace"), at, _event_id(body)] for key, at, body in self.got]

    def status_of(self) -> int:
        """The status of the request just recorded."""
        return 429 if self.refuse_every and len(self.got) % self.refuse_every == 0 else 200

    def answered(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.last_ok = time.time()


class Connection(asyncio.Protocol):
    """One keep-alive connection: httptools calls the ``on_*`` methods as it parses."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.key = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without the subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_response(400, b'{"error":"bad request"}', close=True), close=True)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"idempotency-key":
            self.key = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body, key = self.url, b"".join(self.body), self.key
        self.url, self.body, self.key = b"", [], b""
        close = not self.parser.should_keep_alive()
        r = self.receiver
        path = url.split(b"?", 1)[0]
        if path in (b"/_summary", b"/_stats", b"/_reset"):
            if path == b"/_reset":
                r.reset()
            payload = orjson.dumps(r.stats() if path == b"/_stats" else r.summary(), option=orjson.OPT_NON_STR_KEYS)
            self._send(_response(200, payload, close=close), close=close)
            return
        r.got.append((key, time.time(), body))
        status = r.status_of()
        if not r.latency:
            r.peak = max(r.peak, r.in_flight + 1)
            r.answered(status)
            self._send(_response(status, _OK if status == 200 else _REFUSED, close=close), close=close)
            return
        r.in_flight += 1
        r.peak = max(r.peak, r.in_flight)
        asyncio.get_running_loop().call_later(r.latency, self._answer_late, status, close)

    def _answer_late(self, status: int, close: bool) -> None:
        self.receiver.in_flight -= 1
        self.receiver.answered(status)
        self._send(_response(status, _OK if status == 200 else _REFUSED, close=close), close=close)

    def _send(self, data: bytes, *, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()


async def serve(port: int, latency: float = 0.0, refuse_every: int = 0) -> None:
    """Receive on 127.0.0.1:``port`` until cancelled."""
    receiver = Receiver(latency, refuse_every)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(receiver), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def compare(posts: int) -> None:
    """CPU per request of this receiver and of :mod:`tests.sink`, each under raw aiohttp."""
    import sys

    sys.path.insert(0, ROOT)
    import bench.spine as spine
    from bench.accept_cpu import cpu_seconds
    from tests.sink import free_port

    for name, module in (("tests.sink (uvicorn)", "tests.sink"), ("bench.receiver", "bench.receiver")):
        port = free_port()
        spine.SINK = module
        proc = spine.start_sink(port)
        try:
            spine.wait_http(f"http://127.0.0.1:{port}/_summary")
            for conc in (8, 16):
                before = cpu_seconds(proc.pid)
                rate = await spine.baseline(port, posts, conc)
                used = cpu_seconds(proc.pid) - before
                print(f"{name:<22} raw aiohttp, concurrency {conc:>2}: {rate:>7,.0f} posts/s; "
                      f"receiver {used / posts * 1e6:.0f} µs CPU per request", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int, nargs="?")
    parser.add_argument("latency", type=float, nargs="?", default=0.0)
    parser.add_argument("refuse_every", type=int, nargs="?", default=0)
    parser.add_argument("--compare", type=int, nargs="?", const=10_000, metavar="POSTS",
                        help="measure this receiver's CPU per request against tests.sink's")
    args = parser.parse_args()
    import uvloop

    if args.compare:
        uvloop.run(compare(args.compare))
    elif args.port is None:
        parser.error("PORT is required")
    else:
        uvloop.run(serve(args.port, args.latency, args.refuse_every))


if __name__ == "__main__":
    main()
