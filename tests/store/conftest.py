"""Fixtures of the storage tests, on the fresh database per test and backend of ``db_url``
(``tests/conftest.py``).

PostgreSQL is a real server started once per session (see ``tests/pgserver.py``). Without
PostgreSQL binaries its tests are skipped, unless ``NOTIFIER_REQUIRE_POSTGRES=1`` (CI)
makes that a failure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from notifier.store import Store, store_for
from tests.scale.conftest import processes  # noqa: F401  (the fixture: notifier processes a test starts)

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
def sqlite_inline(request: pytest.FixtureRequest) -> bool:
    """Whether SQLite stores run their short calls on the loop, as ``notifier serve`` and
    ``notifier worker`` open them: for the ``sqlite-inline`` backend of a test
    parametrized with it (``tests/store/test_contract.py``)."""
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and callspec.params.get("db_url") == "sqlite-inline"


@pytest.fixture
async def open_store(db_url: str, sqlite_inline: bool) -> AsyncIterator[OpenStore]:
    """Open another store on the test's database (as another process would); closed at the end."""
    opened: list[Store] = []

    async def factory() -> Store:
        store = store_for(db_url, inline=sqlite_inline)
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
