"""Fixtures of the storage tests: a fresh database per test on every backend.

PostgreSQL is a real server started once per session (see ``tests/pgserver.py``). Without
PostgreSQL binaries its tests are skipped, unless ``NOTIFIER_REQUIRE_POSTGRES=1`` (CI)
makes that a failure.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from notifier.store import Store, store_for

try:
    from tests.pgserver import PgServer
except ImportError:  # the checkout is not on sys.path when pytest's `pythonpath` is not set
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.pgserver import PgServer

BACKENDS = ["sqlite", "postgresql"]

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifier.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
async def open_store(db_url: str) -> AsyncIterator[OpenStore]:
    """Open another store on the test's database (as another process would); closed at the end."""
    opened: list[Store] = []

    async def factory() -> Store:
        store = store_for(db_url)
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    """An open store on a fresh database."""
    return await open_store()


@pytest.fixture
def set_schema_version(db_url: str) -> Callable[[int], None]:
    """Record a schema version as applied in the test's database, as a newer notifier would."""

    def record(version: int) -> None:
        if db_url.startswith("sqlite:"):
            with sqlite3.connect(db_url.split("sqlite:///", 1)[1]) as conn:
                conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
            return
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as pg:
            pg.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))

    return record
