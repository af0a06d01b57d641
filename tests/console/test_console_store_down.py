"""While the database refuses connections, the console answers a page, not the API's JSON.

A service on a PostgreSQL database of its own answers real HTTP on 127.0.0.1; an admin
connection then makes that database refuse connections and ends its sessions, so every
store call raises ``StoreUnavailable`` (the session check of a logged-in visit first).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.console.helpers import ADMIN, console_config, log_in, serving_on_fresh_pg
from tests.pgserver import PgServer
from tests.sink import Sink

FRENCH = "La base de données est momentanément indisponible : réessayez dans un instant."
ENGLISH = "The database is unavailable for a moment: try again shortly."


@pytest.fixture
async def console_on_pg(pg_server: PgServer, sink: Sink, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, str]]:
    """The base URL of a service with its console on a fresh PostgreSQL database, and its name."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    async with serving_on_fresh_pg(pg_server, console_config(sink.url), tmp_path) as served:
        yield served


async def allow_connections(admin_url: str, name: str, allow: bool) -> None:
    """Let ``name`` take connections again, or refuse new ones and end those it has."""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


async def test_console_shows_a_page_while_the_database_is_down(console_on_pg: tuple[str, str],
                                                               pg_server: PgServer) -> None:
    base, name = console_on_pg
    async with httpx.AsyncClient(base_url=base, timeout=20, headers={"Accept-Language": "fr-FR,fr;q=0.9"}) as client:
        assert (await log_in(client, ADMIN)).status_code == 303
        assert (await client.get("/console/")).status_code == 200
        await allow_connections(pg_server.url, name, False)
        try:
            page = await client.get("/console/")
            assert page.status_code == 503, page.text
            assert page.headers["content-type"].startswith("text/html")
            assert int(page.headers["retry-after"]) >= 1
            assert "Content-Security-Policy" in page.headers
            assert FRENCH in page.text and '<html lang="fr">' in page.text
            assert 'href="/console/static/console.css"' in page.text  # the console's look
            # Nothing of the connection: neither the database's name, nor the server's port.
            assert name not in page.text and str(pg_server.port) not in page.text

            english = await client.get("/console/?lang=en")
            assert english.status_code == 503 and ENGLISH in english.text and FRENCH not in english.text

            # The API still answers its JSON error, as before.
            api = await client.get("/v1/deliveries", headers={"Authorization": f"Bearer {ADMIN}"})
            assert api.status_code == 503
            assert api.headers["content-type"].startswith("application/json")
            assert api.json()["error"].startswith("the database is unavailable, try again later")
            assert int(api.headers["retry-after"]) >= 1
        finally:
            await allow_connections(pg_server.url, name, True)

        # Back: the same session cookie gets the queue page again once the pool reconnects.
        deadline = time.monotonic() + 30
        while (back := await client.get("/console/")).status_code == 503:
            assert time.monotonic() < deadline, "the console did not come back with the database"
        assert back.status_code == 200, back.text
        assert "Queue" in back.text and "marie" in back.text  # logged in still, in English now
