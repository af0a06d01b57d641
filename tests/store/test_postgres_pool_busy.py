"""A pool whose connections are all in use is busy, not down: it is not replaced.

Replacing it would open a second pool's connections next to the first's, past the
``pool_size`` the operator sized PostgreSQL's ``max_connections`` for, and close the pool
under the calls still using it. The caller waits the pool's timeout, then gets
``StoreUnavailable`` (the API's 503 with ``Retry-After``), as any call the pool cannot serve.
"""

from __future__ import annotations

import psycopg
import pytest

from notifier.store import StoreUnavailable
from notifier.store.postgres import PostgresStore
from tests.pgserver import PgServer


def sessions(admin_url: str, database: str) -> int:
    """The server's sessions on ``database`` (the store's connections)."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()
    return int(row[0]) if row else 0


async def test_a_busy_pool_is_not_taken_for_an_outage(pg_server: PgServer) -> None:
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    store = PostgresStore(url, pool_size=1, timeout=1.0)
    await store.open()
    try:
        async with store.transaction() as tx:  # the pool's one connection, held by a long transaction
            await tx.connector().fetch_all("SELECT 1", {})
            with pytest.raises(StoreUnavailable):
                await store.connector().fetch_all("SELECT 1", {})
            assert sessions(pg_server.url, name) == 1, "a second pool was opened next to the busy one"
            await tx.connector().fetch_all("SELECT 1", {})  # the busy pool was not closed under it
        assert await store.connector().fetch_all("SELECT 1 AS one", {}) == [{"one": 1}]
    finally:
        await store.close()
        pg_server.drop_database(name)
