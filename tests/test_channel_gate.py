"""Each channel's sends adapt to its receiver: real aiohttp receivers on loopback, the real worker.

What is asserted is what the receiver saw: how many requests it had in flight at once,
and when requests arrived. No assertion depends on the machine being fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.api import create_app
from notifier.core.events import Event
from notifier.metrics import REGISTRY
from tests.conftest import ServiceFactory


@dataclass
class Receiver:
    """An aiohttp server that answers after ``latency`` seconds, as ``answer`` says."""

    latency: float = 0.0
    #: ``answer(n)`` for the n-th request (1-based): ``(status, headers)``.
    answer: Callable[[int], tuple[int, dict[str, str]]] = lambda n: (200, {})
    in_flight: int = 0
    peak: int = 0
    #: (arrived, answered, status) of each request, ``time.monotonic()`` seconds.
    log: list[tuple[float, float, int]] = field(default_factory=list)
    #: Most requests in flight at once after the first answer of each status.
    peak_after: dict[int, int] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        arrived = time.monotonic()
        n = len(self.log) + 1
        self.log.append((arrived, 0.0, 0))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        for status in self.peak_after:
            self.peak_after[status] = max(self.peak_after[status], self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            status, headers = self.answer(n)
        finally:
            self.in_flight -= 1
        self.log[n - 1] = (arrived, time.monotonic(), status)
        self.peak_after.setdefault(status, 0)
        return web.json_response({"ok": status < 300}, status=status, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


def config(url: str, settings: str = "") -> str:
    return ("version: 1\n"
            "defaults: {timezone: UTC, dedup: {window: 0s}, retry: {attempts: 5, backoff: 50ms, max_backoff: 1s}}\n"
            "channels:\n"
            f'  hook: {{type: webhook, url: "{url}", timeout: 20s{settings}}}\n'
            "routes:\n"
            "  - {name: all, match: {kinds: [support_request]}, to: [hook]}\n")


def events(n: int, tag: str) -> list[Event]:
    return [Event.model_validate({"kind": "support_request", "site": "shop.example.com", "id": f"{tag}-{i}",
                                  "conversation_id": f"{tag}-{i}", "message": "Bonjour"}) for i in range(n)]


async def test_a_receiver_answering_in_50_ms_sees_dozens_in_flight(make_service: ServiceFactory,
                                                                   receiver: Receiver) -> None:
    receiver.latency = 0.05
    service = await make_service(config(receiver.url))  # no concurrency setting: starts at 4
    await service.accept(events(400, "slow"))
    assert service.worker is not None
    stats = await service.worker.drain(timeout=60)
    assert stats.sent == 400 and len(receiver.log) == 400
    assert receiver.peak >= 16, f"the limit did not grow: at most {receiver.peak} requests in flight"
    gauge = REGISTRY.get_sample_value("notifier_channel_concurrency_limit", {"channel": "hook"})
    assert gauge is not None and gauge >= 16


async def test_max_concurrency_bounds_what_the_receiver_sees(make_service: ServiceFactory,
                                                             receiver: Receiver) -> None:
    receiver.latency = 0.05
    service = await make_service(config(receiver.url, ", max_concurrency: 6"))
    await service.accept(events(120, "capped"))
    assert service.worker is not None
    assert (await service.worker.drain(timeout=60)).sent == 120
    assert receiver.peak <= 6


async def test_retry_after_pauses_the_channel_and_the_limit_shrinks(make_service: ServiceFactory,
                                                                   receiver: Receiver) -> None:
    service = await make_service(config(receiver.url, ", concurrency: 8"))
    limits: list[int] = []

    def answer(n: int) -> tuple[int, dict[str, str]]:
        # The first eight requests (sent together: the limit starts at 8) are told to wait 1 s.
        if n <= 8:
            return 429, {"Retry-After": "1"}
        assert service.worker is not None
        limits.append(service.worker.gates()["hook"].limit)
        return 200, {}

    receiver.answer = answer
    await service.accept(events(40, "limited"))
    assert service.worker is not None
    await service.worker.drain(include_retries=True, timeout=60)
    assert len([s for _, _, s in receiver.log if s == 200]) == 40
    refused = [(arrived, answered) for arrived, answered, s in receiver.log if s == 429]
    assert len(refused) == 8
    last_429 = max(answered for _, answered in refused)
    after = [arrived for arrived, _, s in receiver.log if s == 200]
    # No request of the channel during the pause: not only the refused ones waited.
    assert min(after) - last_429 >= 0.9, f"a request came {min(after) - last_429:.2f} s after the 429"
    # Fewer in flight afterwards: the limit was cut (8 * 0.7) and grows back one per round.
    assert receiver.peak_after[429] < 8
    assert limits[0] < 8  # when the first request after the pause came


async def test_rate_caps_the_sends_whatever_the_limit(make_service: ServiceFactory, receiver: Receiver) -> None:
    service = await make_service(config(receiver.url, ", concurrency: 16, rate: 10"))
    await service.accept(events(6, "paced"))
    assert service.worker is not None
    assert (await service.worker.drain(timeout=30)).sent == 6
    arrivals = sorted(arrived for arrived, _, _ in receiver.log)
    assert arrivals[-1] - arrivals[0] >= 0.4  # six sends at 10/s span at least 0.5 s


async def test_healthz_shows_each_channels_limit(make_service: ServiceFactory, receiver: Receiver) -> None:
    service = await make_service(config(receiver.url, ", concurrency: 3, max_concurrency: 12, rate: 50"))
    app = create_app(service, manage=False)
    service_task = asyncio.create_task(service.run(worker=True, digests=False))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            deadline = time.monotonic() + 30
            while "channels" not in (body := (await client.get("/healthz")).json()):
                assert time.monotonic() < deadline, body  # the worker task has not started yet
                await asyncio.sleep(0.02)
    finally:
        service.stop()
        await service_task
    assert body["channels"]["hook"] == {"concurrency_limit": 3, "in_flight": 0, "min_concurrency": 1,
                                        "max_concurrency": 12, "rate": 50.0, "paused_for_seconds": 0.0}


async def test_a_long_pause_hands_the_claims_back(make_service: ServiceFactory, receiver: Receiver) -> None:
    # Told to wait an hour: the worker does not sit on its claims that long, it releases them.
    receiver.answer = lambda n: (429, {"Retry-After": "3600"}) if n == 1 else (200, {})
    service = await make_service(config(receiver.url, ", concurrency: 1"))
    await service.accept(events(20, "later"))
    assert service.worker is not None
    await service.worker.drain(timeout=2)
    assert len(receiver.log) == 1  # nothing after the 429
    deliveries = await service.store.list_deliveries()
    assert sorted(d.status for d in deliveries) == ["pending"] * 20  # none left claimed
    assert service.worker.concurrency()["hook"]["paused_for_seconds"] > 3000



class SlowMailServer(SMTP):
    """A real SMTP server (aiosmtpd) that takes 50 ms per mail and counts its open sessions."""

    open = 0
    peak = 0
    mails = 0

    def __init__(self) -> None:
        super().__init__(self, hostname="mx.test")

    def connection_made(self, transport: Any) -> None:
        type(self).open += 1
        type(self).peak = max(type(self).peak, type(self).open)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        type(self).open -= 1
        super().connection_lost(exc)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.05)  # the relay's own pace
        type(self).mails += 1
        return "250 OK"


async def test_an_email_channel_keeps_to_a_few_smtp_sessions(make_service: ServiceFactory) -> None:
    """However fast the relay answers, email does not open dozens of sessions: mail servers
    refuse a client's extra connections ("421 Too many concurrent SMTP connections")."""
    server_class = type("Relay", (SlowMailServer,), {})  # its own counters
    server = await asyncio.get_running_loop().create_server(server_class, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        service = await make_service(
            "version: 1\n"
            "defaults: {timezone: UTC, dedup: {window: 0s}, retry: {attempts: 5, backoff: 50ms}}\n"
            "channels:\n"
            f'  mail: {{type: email, smtp: "smtp://127.0.0.1:{port}", to: [team@example.com]}}\n'
            "routes:\n"
            "  - {name: all, match: {kinds: [support_request]}, to: [mail]}\n")
        await service.accept(events(80, "mail"))
        assert service.worker is not None
        assert (await service.worker.drain(timeout=60)).sent == 80
        assert server_class.mails == 80
        assert 1 <= server_class.peak <= 4, f"{server_class.peak} SMTP sessions at once"
    finally:
        server.close()
