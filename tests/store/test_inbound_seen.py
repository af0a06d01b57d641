"""What inbound webhooks already told, in the store, on every backend: one claim wins across
processes and restarts, a forgotten or expired key can be claimed again, expired rows go
(at the next claim, or in the daily retention purge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.config import parse_config
from notifier.retention import Purger
from notifier.store import Store
from notifier.store.inbound_seen import InboundSeenStore
from tests.store.conftest import OpenStore

T0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def test_a_claim_is_held_for_another_process_and_after_a_restart(store: Store, open_store: OpenStore) -> None:
    seen = InboundSeenStore(store.connector())
    assert await seen.claim("zendesk:aa", T0 + timedelta(minutes=10), T0)
    assert not await seen.claim("zendesk:aa", T0 + timedelta(minutes=10), T0)
    other = InboundSeenStore((await open_store()).connector())
    assert not await other.claim("zendesk:aa", T0 + timedelta(minutes=10), T0 + timedelta(minutes=1))
    assert await other.claim("zendesk:bb", T0 + timedelta(minutes=10), T0 + timedelta(minutes=1))
    await store.close()
    restarted = InboundSeenStore((await open_store()).connector())
    assert not await restarted.claim("zendesk:aa", T0 + timedelta(minutes=10), T0 + timedelta(minutes=2))
    # Forgotten (a failed request, a ticket reported reopened): the next claim is the first again.
    await restarted.forget("zendesk:aa")
    assert await restarted.claim("zendesk:aa", T0 + timedelta(minutes=10), T0 + timedelta(minutes=2))


async def test_expired_rows_are_forgotten_by_the_next_claim_or_by_purge(store: Store) -> None:
    seen = InboundSeenStore(store.connector())
    assert await seen.claim("early", T0 + timedelta(minutes=10), T0)
    assert await seen.claim("later", T0 + timedelta(minutes=20), T0)
    # Fifteen minutes on, the first has expired: the next claim removes it and may take its key.
    assert await seen.claim("early", T0 + timedelta(minutes=25), T0 + timedelta(minutes=15))
    assert await seen.count() == 2
    assert await seen.purge(T0 + timedelta(minutes=21)) == 1
    assert await seen.count() == 1
    assert not await seen.claim("early", T0 + timedelta(minutes=30), T0 + timedelta(minutes=21))


async def test_the_daily_retention_purge_forgets_expired_rows_without_a_claim(store: Store) -> None:
    seen = InboundSeenStore(store.connector())
    assert await seen.claim("zendesk:old", T0 + timedelta(minutes=10), T0)
    assert await seen.claim("freshdesk:fd:42", T0 + timedelta(days=365), T0)
    cfg = parse_config("version: 1\nchannels: {hook: {type: webhook, url: 'https://example.com/h'}}\n"
                       "routes: [{name: all, match: {kinds: [support_request]}, to: [hook]}]\n")
    later = T0 + timedelta(days=1)
    await Purger(store, lambda: cfg, "w1", lambda: later).purge(later)
    assert await seen.count() == 1
    assert not await seen.claim("freshdesk:fd:42", T0 + timedelta(days=366), later)
