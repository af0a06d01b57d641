"""What only the PostgreSQL store does: outages are StoreUnavailable, and it recovers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from notifier.core.events import Event, Kind, Priority
from notifier.store import NewDelivery, StoreUnavailable
from notifier.store.postgres import PostgresStore
from tests.pgserver import PgServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pg_store(pg_server: PgServer) -> AsyncIterator[PostgresStore]:
    url = pg_server.create_database()
    store = PostgresStore(url, timeout=1.0)
    await store.open()
    yield store
    await store.close()
    pg_server.drop_database(url.rsplit("/", 1)[1])


async def accept(store: PostgresStore, event_id: str) -> None:
    async with store.transaction() as tx:
        await tx.insert_event(Event(id=event_id, kind=Kind.support_request, occurred_at=T0), T0, None)
        await tx.insert_deliveries(event_id, [NewDelivery(f"d-{event_id}", "r", "mail", Priority.high)], T0)


async def test_an_unreachable_server_is_store_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = PostgresStore(f"postgresql://notifier@127.0.0.1:{port}/notifier", timeout=1.0)
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
        await store.open()
    await store.close()


async def test_the_store_survives_a_server_restart(pg_server: PgServer, pg_store: PostgresStore) -> None:
    await accept(pg_store, "before")
    assert [c.delivery.id for c in await pg_store.claim("w1", T0, timedelta(minutes=1), 10)] == ["d-before"]
    pg_server.halt()
    try:
        with pytest.raises(StoreUnavailable):
            await accept(pg_store, "during")
        with pytest.raises(StoreUnavailable):
            await pg_store.wait_for_work(5)
    finally:
        pg_server.start()
    # Back without reopening the store: broken pooled connections are replaced.
    await accept(pg_store, "after")
    assert await pg_store.get_event("during") is None
    assert [c.delivery.id for c in await pg_store.claim("w2", T0, timedelta(minutes=1), 10)] == ["d-after"]
    assert sorted((await pg_store.count_deliveries()).items()) == [("claimed", 2)]
