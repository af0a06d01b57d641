"""Shared fixtures: a webhook sink, and a service on a temporary SQLite store."""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.service import Service
from tests.pgserver import PgServer
from tests.sink import Sink

ServiceFactory = Callable[..., Awaitable[Service]]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running PostgreSQL server for the whole session."""
    server = PgServer.find()
    if server is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl) not found: install the "
                  "postgresql package to run the PostgreSQL tests")
        if os.environ.get("NOTIFIER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (NOTIFIER_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend (PostgreSQL: a database of its own
    on the session's server)."""
    if request.param.startswith("sqlite"):  # "sqlite-inline": see tests/store/test_contract.py
        yield f"sqlite:///{tmp_path / 'notifier.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


def webhook_config(url: str, *, extra: str = "", retry: str = "{attempts: 5, backoff: 50ms, max_backoff: 1s}",
                   routes: str | None = None, dedup: str = "{window: 10m}") -> str:
    """A channels.yaml with one webhook channel taking every handoff and keyword.

    ``extra`` holds more channel entries, each line indented by two spaces.
    """
    routes = routes or """
      - name: handoff
        match: {kinds: [support_request, contact_request, tool_call]}
        to: [hook]
      - name: keywords
        match: {kinds: [message], keywords: [urgent, remboursement], role: user}
        to: [hook]
    """
    routes_block = textwrap.indent(textwrap.dedent(routes).strip(), "  ")
    return (
        "version: 1\n"
        "defaults:\n"
        "  timezone: Europe/Paris\n"
        f"  retry: {retry}\n"
        f"  dedup: {dedup}\n"
        "channels:\n"
        f'  hook: {{type: webhook, url: "{url}", timeout: 2s}}\n'
        f"{extra}"
        "routes:\n"
        f"{routes_block}\n"
    )


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """``await make_service(yaml_text)`` -> an opened :class:`Service` (closed after the test)."""
    opened: list[Service] = []

    async def factory(config_text: str, *, db: str | None = None, **kwargs: Any) -> Service:
        path = tmp_path / "channels.yaml"
        path.write_text(config_text, encoding="utf-8")
        service = Service(path, db or f"sqlite:///{tmp_path}/notifier.db", inbox_dir=tmp_path / "inbox", **kwargs)
        await service.open()
        opened.append(service)
        return service

    yield factory
    for service in opened:
        await service.close()
