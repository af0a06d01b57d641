"""Once a database outage is known, the API answers 503 at once, and notices by itself when it ends.

A service whose PostgreSQL calls may wait ``TIMEOUT`` seconds for a connection answers
real HTTP on 127.0.0.1; an admin connection makes its database refuse connections and
ends its sessions (or, for a server that hangs, a TCP cable between the two is pulled).
The first request of the outage waits the whole ``TIMEOUT`` (nothing is known yet); every
answer after it must come before ``TIMEOUT`` would have run out, or a chatbot whose own
HTTP client gives up first never sees the 503 and its ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import structlog

from notifier.service import Service
from notifier.store.postgres import PostgresStore
from tests.conftest import webhook_config
from tests.console.helpers import opened_and_serving
from tests.console.test_console_store_down import allow_connections
from tests.pgserver import PgServer
from tests.sink import Sink

#: The store's wait for a connection, as `PostgresStore(timeout=…)` (10 s in production):
#: shorter here only because the outage's first request waits all of it.
TIMEOUT = 3.0
UNAVAILABLE = "the database is unavailable, try again later"


def batch(tag: str, n: int = 5) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{i}", "kind": "support_request", "site": "s", "conversation_id": f"{tag}-{i}",
             "message": "J'ai besoin d'aide"} for i in range(n)]


def stored(url: str, ids: list[str]) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE id = ANY(%s)", (ids,)).fetchone()
    return int(row[0]) if row else 0


async def timed(call: Any) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    answer = await call
    return answer, time.monotonic() - t0


def told_to_retry(answer: httpx.Response) -> bool:
    return (answer.status_code == 503 and answer.json()["error"] == UNAVAILABLE
            and int(answer.headers["retry-after"]) >= 1)


class Outage:
    """The served API's base URL, its database's URL and name, and the PostgreSQL server."""

    def __init__(self, base: str, url: str, server: PgServer) -> None:
        self.base, self.url, self.server = base, url, server
        self.name = url.rsplit("/", 1)[1]

    async def begin(self, client: httpx.AsyncClient) -> None:
        """Refuse connections, and let the first request learn of it (it waits up to TIMEOUT)."""
        await allow_connections(self.server.url, self.name, False)
        first = await client.post("/v1/events", json=batch("first"))
        assert told_to_retry(first), first.text


@asynccontextmanager
async def served(url: str, sink: Sink, tmp_path: Path) -> AsyncIterator[str]:
    """The API of a service on the database at ``url``, its calls waiting up to TIMEOUT: its base URL."""
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url), encoding="utf-8")
    service = Service(config, url, inbox_dir=tmp_path / "inbox")
    service.store = PostgresStore(url, timeout=TIMEOUT)
    async with opened_and_serving(service) as base:
        yield base


@pytest.fixture
async def outage(pg_server: PgServer, sink: Sink, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Outage]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    try:
        async with served(url, sink, tmp_path) as base:
            try:
                yield Outage(base, url, pg_server)
            finally:
                await allow_connections(pg_server.url, name, True)
    finally:
        pg_server.drop_database(name)


async def test_after_the_first_503_each_answer_comes_before_the_pool_timeout(outage: Outage) -> None:
    async with httpx.AsyncClient(base_url=outage.base, timeout=4 * TIMEOUT) as client:
        await outage.begin(client)
        answers = [await timed(client.post("/v1/events", json=batch(f"during-{n}"))) for n in range(5)]
        answers.append(await timed(client.get("/v1/deliveries")))
        answers.append(await timed(client.get("/v1/cases")))
        health, took = await timed(client.get("/healthz"))
    for answer, seconds in answers:
        assert told_to_retry(answer), f"{answer.request.url.path}: {answer.status_code} {answer.text}"
        assert seconds < TIMEOUT, f"{answer.request.url.path} answered after {seconds:.2f} s, the pool's whole wait"
    assert health.status_code == 503 and health.json()["status"] == "unhealthy", health.text
    assert health.json()["error"] == UNAVAILABLE
    assert took < TIMEOUT, f"/healthz answered after {took:.2f} s"
    # Nothing of a refused batch was stored.
    await allow_connections(outage.server.url, outage.name, True)
    assert stored(outage.url, [e["id"] for n in range(5) for e in batch(f"during-{n}")]) == 0


async def test_healthz_answers_while_many_posts_wait_on_the_outage(outage: Outage) -> None:
    posters, answered = 40, []
    stop = asyncio.Event()

    async def post_until_stopped(client: httpx.AsyncClient, n: int) -> None:
        while not stop.is_set():
            answered.append(await timed(client.post("/v1/events", json=batch(f"p{n}-{len(answered)}"))))

    # One connection per poster, as many chatbot sessions would open.
    limits = httpx.Limits(max_connections=posters + 1)
    async with httpx.AsyncClient(base_url=outage.base, timeout=4 * TIMEOUT, limits=limits) as client:
        await outage.begin(client)
        flood = [asyncio.create_task(post_until_stopped(client, n)) for n in range(posters)]
        try:
            deadline = time.monotonic() + 20 * TIMEOUT
            while len(answered) < posters:  # the flood is under way: as one post is answered, the next goes
                assert time.monotonic() < deadline, f"only {len(answered)} posts answered"
                await asyncio.sleep(0.01)
            health = [await timed(client.get("/healthz")) for _ in range(3)]
        finally:
            stop.set()
            await asyncio.gather(*flood)
    for answer, seconds in health:
        assert answer.status_code == 503 and answer.json()["status"] == "unhealthy", answer.text
        assert seconds < TIMEOUT, f"/healthz answered after {seconds:.2f} s while {posters} posts were in flight"
    for answer, seconds in answered:
        assert told_to_retry(answer), answer.text
        assert seconds < TIMEOUT, f"a post answered after {seconds:.2f} s"


async def test_posts_are_accepted_again_when_the_database_is_back(outage: Outage) -> None:
    with structlog.testing.capture_logs() as logged:
        async with httpx.AsyncClient(base_url=outage.base, timeout=4 * TIMEOUT) as client:
            await outage.begin(client)
            assert told_to_retry(await client.post("/v1/events", json=batch("refused")))
            await allow_connections(outage.server.url, outage.name, True)
            # No restart: requests keep probing, so the service notices by itself.
            deadline = time.monotonic() + 2 * TIMEOUT
            while told_to_retry(back := await client.post("/v1/events", json=batch("refused"))):
                assert time.monotonic() < deadline, "posts were not accepted again"
            assert back.status_code == 202, back.text
            assert not any(item["duplicate"] for item in back.json()["events"])  # the 503 had stored nothing
            assert (await client.get("/healthz")).json()["status"] == "ok"
    assert stored(outage.url, [e["id"] for e in batch("refused")]) == 5
    said = [line["event"] for line in logged if line["event"].startswith("store ")]
    assert said[0] == "store unavailable" and said[-1] == "store available again", said


class Cable:
    """A TCP cable between the service and PostgreSQL, which the test can pull and plug back.

    Pulled, it breaks the connections it carries and takes new ones without ever answering,
    as a server does whose host is gone and whose packets are dropped: a connection attempt
    then waits its whole connect timeout instead of being refused at once.
    """

    def __init__(self, to_port: int) -> None:
        self.to_port = to_port
        self.port = 0
        self.pulled = False
        self._carried: list[asyncio.StreamWriter] = []
        self._hung: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Cable:
        self._server = await asyncio.start_server(self._carry, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._carried + self._hung:
            writer.transport.abort()

    def pull(self) -> None:
        self.pulled = True
        for writer in self._carried:
            writer.transport.abort()
        self._carried.clear()

    def plug(self) -> None:
        self.pulled = False
        for writer in self._hung:  # the attempts that hung now fail, as when the host is back
            writer.transport.abort()
        self._hung.clear()

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.pulled:
            self._hung.append(writer)  # accepted, never answered
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.to_port)
        self._carried += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


@pytest.mark.slow  # the first request waits twice TIMEOUT: for the pool, then for a connection
async def test_a_server_that_hangs_holds_no_answer_past_the_pool_timeout(
        pg_server: PgServer, sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    url = pg_server.create_database()
    try:
        async with Cable(pg_server.port) as cable, \
                served(url.replace(f":{pg_server.port}/", f":{cable.port}/"), sink, tmp_path) as base, \
                httpx.AsyncClient(base_url=base, timeout=4 * TIMEOUT) as client:
            assert (await client.post("/v1/events", json=batch("before"))).status_code == 202
            cable.pull()
            # The first request waits for the pool, then for a connection that never answers.
            assert told_to_retry(await client.post("/v1/events", json=batch("first")))
            answers = [await timed(client.post("/v1/events", json=batch(f"during-{n}"))) for n in range(3)]
            answers.append(await timed(client.get("/healthz")))
            for answer, seconds in answers:
                assert answer.status_code == 503, answer.text
                assert seconds < TIMEOUT, f"{answer.request.url.path} answered after {seconds:.2f} s"
            cable.plug()
            deadline = time.monotonic() + 2 * TIMEOUT
            while told_to_retry(back := await client.post("/v1/events", json=batch("after"))):
                assert time.monotonic() < deadline, "posts were not accepted again"
            assert back.status_code == 202, back.text
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])
