"""While the database is down, clients are told to retry, and nothing of the connection.

PostgreSQL's errors name the server's host and port, the database and the user
(``connection to server at "10.0.0.5", port 5432 failed: FATAL: password authentication
failed for user "notifier"``). Those are for the operator's log, not for whoever can
reach the API: ``/healthz`` needs no token at all. A service on a PostgreSQL database of
its own answers real HTTP on 127.0.0.1; an admin connection then makes that database
refuse connections and ends its sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog

from notifier.store.postgres import PostgresStore
from tests.channels.fakes import FakeSlack
from tests.conftest import webhook_config
from tests.console.helpers import serving_on_fresh_pg
from tests.console.test_console_store_down import allow_connections
from tests.pgserver import PgServer
from tests.sink import Sink
from tests.slack.live import live_api, slack_config, until

EVENT = {"kind": "support_request", "site": "s", "conversation_id": "c-1", "message": "Un conseiller ?"}
MCP_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "send_support_email", "arguments": {"message": "Un conseiller ?", "conversation_id": "c-2"}}}


@pytest.fixture
async def served_on_pg(pg_server: PgServer, sink: Sink, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, str]]:
    """The base URL of a service on a fresh PostgreSQL database, and the database's name."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    async with serving_on_fresh_pg(pg_server, webhook_config(sink.url), tmp_path) as served:
        yield served


async def test_no_answer_names_the_database_host_port_or_user(served_on_pg: tuple[str, str],
                                                               pg_server: PgServer) -> None:
    base, name = served_on_pg
    secrets = [name, f"port {pg_server.port}", str(pg_server.port), f'"{pg_server.user}"', "127.0.0.1"]
    await allow_connections(pg_server.url, name, False)
    try:
        with structlog.testing.capture_logs() as logged:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                # The first call meets the ended session, the next ones a refused connection.
                answers = [await client.post("/v1/events", json=EVENT) for _ in range(3)]
                answers += [await client.get("/v1/deliveries"), await client.get("/healthz")]
                answers.append(await client.post("/mcp", json=MCP_CALL, headers={
                    "Accept": "application/json, text/event-stream"}))
    finally:
        await allow_connections(pg_server.url, name, True)
    for answer in answers:
        leaked = [s for s in secrets if s in answer.text]
        assert not leaked, f"{answer.request.url.path} answered {answer.status_code} naming {leaked}: {answer.text}"
    for answer in answers[:4]:
        # Still the API's error shape, saying what to do, and when.
        assert answer.status_code == 503
        assert answer.json()["error"].startswith("the database is unavailable, try again later")
        assert int(answer.headers["retry-after"]) >= 1
    assert answers[4].status_code == 503 and answers[4].json()["status"] == "unhealthy"
    assert "database is unavailable" in answers[4].json()["error"]
    assert "database is unavailable" in answers[5].text  # the tool's error, for the model to read
    # The operator still finds the detail in the log.
    assert any(name in str(line.get("error", "")) for line in logged), logged


async def test_a_slack_click_during_the_outage_is_told_to_retry_and_nothing_more(
        pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    try:
        with FakeSlack() as slack:
            async with live_api(tmp_path, slack_config(slack), db=url) as live:
                await live.request()
                await until(lambda: len(slack.messages) == 1, what="the alert")
                clicks = PostgresStore(url, timeout=1.0)  # the clicks give up within a second
                await clicks.open()
                served, live.service.store = live.service.store, clicks
                await allow_connections(pg_server.url, name, False)
                try:
                    ts = slack.messages[0]["ts"]
                    answer = await live.click(*slack.signed(slack.click_payload(ts, "case_claim")))
                    assert answer.status_code == 200  # acknowledged at once, as Slack wants
                    [told] = await asyncio.to_thread(slack.wait_for_ephemerals, 1, 30)
                finally:
                    await allow_connections(pg_server.url, name, True)
                    # The service closes its own store (its worker's too): a pool left open
                    # would still be reconnecting when the event loop ends.
                    live.service.store = served
                    await clicks.close()
    finally:
        pg_server.drop_database(name)
    assert told["user"] == "U0MARIE"
    assert "base de données est momentanément indisponible" in told["text"]
    assert name not in told["text"] and str(pg_server.port) not in told["text"]
