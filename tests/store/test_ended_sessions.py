"""Ended console sessions in the store, on every backend: seen by another process and after
a restart, and forgotten once their cookie has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.store import Store
from notifier.store.ended_sessions import EndedSessionStore
from tests.store.conftest import OpenStore

T0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def test_an_ended_session_is_seen_by_another_process_and_after_a_restart(
        store: Store, open_store: OpenStore) -> None:
    sessions = EndedSessionStore(store.connector())
    await sessions.end("nonce-a", T0 + timedelta(hours=8), T0)
    await sessions.end("nonce-a", T0 + timedelta(hours=9), T0)  # a second logout (another tab): one row
    other = await open_store()
    assert await EndedSessionStore(other.connector()).is_ended("nonce-a")
    assert not await EndedSessionStore(other.connector()).is_ended("nonce-b")
    await store.close()
    restarted = await open_store()
    assert await EndedSessionStore(restarted.connector()).is_ended("nonce-a")
    assert await EndedSessionStore(restarted.connector()).count() == 1


async def test_expired_rows_are_purged_at_the_next_logout_or_by_purge(store: Store) -> None:
    sessions = EndedSessionStore(store.connector())
    await sessions.end("early", T0 + timedelta(hours=1), T0)
    await sessions.end("later", T0 + timedelta(hours=8), T0)
    assert await sessions.count() == 2
    # Two hours on, the first cookie has expired: the next logout forgets it.
    await sessions.end("next", T0 + timedelta(hours=10), T0 + timedelta(hours=2))
    assert not await sessions.is_ended("early")
    assert await sessions.is_ended("later") and await sessions.is_ended("next")
    assert await sessions.purge(T0 + timedelta(hours=9)) == 1
    assert await sessions.count() == 1 and await sessions.is_ended("next")
