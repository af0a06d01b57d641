"""What the console tests share: a configuration with a reader and an admin token, a clock,
and a service's API served in the test's own event loop."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.service import Service
from notifier.store.postgres import PostgresStore
from tests.conftest import webhook_config
from tests.pgserver import PgServer

READER = "ntf_console-reader-0123456789"
ADMIN = "ntf_console-admin-0123456789"
MONDAY_MORNING = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # 10:00 in Paris, business hours


@asynccontextmanager
async def serving(service: Service) -> AsyncIterator[str]:
    """The API (with the console) of the opened ``service`` on a free loopback port, in this
    event loop; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(service, manage=False), lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the API did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def opened_and_serving(service: Service) -> AsyncIterator[str]:
    """:func:`serving` for a ``service`` not opened yet: opened first, closed after."""
    await service.open()
    try:
        async with serving(service) as base:
            yield base
    finally:
        await service.close()


@asynccontextmanager
async def serving_on_fresh_pg(pg_server: PgServer, config_text: str, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """The API (with the console) of a service of ``config_text`` on a fresh PostgreSQL database
    whose calls give up within a second (not ten): its base URL and the database's name."""
    config = tmp_path / "channels.yaml"
    config.write_text(config_text, encoding="utf-8")
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    service = Service(config, url, inbox_dir=tmp_path / "inbox")
    service.store = PostgresStore(url, timeout=1.0)
    try:
        async with opened_and_serving(service) as base:
            yield base, name
    finally:
        pg_server.drop_database(name)


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def console_config(url: str, extra: str = "") -> str:
    """Handoffs to a webhook with a 30-minute response target; a reader and an admin token."""
    return webhook_config(url, extra=extra, routes="""
      - name: handoff
        match: {kinds: [support_request, contact_request, tool_call]}
        to: [hook]
        response_target: 30m
    """) + f"""auth:
  tokens:
    - {{name: lecteur, secret: "{hash_token(READER)}", scopes: [read]}}
    - {{name: marie, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""


def request_event(**kw: Any) -> dict[str, Any]:
    """A visitor asking for a human."""
    return {"kind": "support_request", "site": "shop.example", "conversation_id": "c1",
            "message": "Un humain svp", "user": {"name": "Léa", "email": "lea@example.com", "consent": True}, **kw}


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Open the login page and post the token with the form's CSRF token; the answer (a redirect)."""
    page = await client.get("/console/login")
    return await client.post("/console/login", data={"csrf": csrf_of(page.text), "token": token,
                                                     "next": "/console/"})
