"""What the digest counts, aggregated by the store: totals, questions, requests, hours, health."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.core.digest import due_period, period_for_date
from notifier.store import Store
from tests.digest.conftest import add, make_config
from tests.digest.fixture_day import QUESTIONS, day_events

PARIS = ZoneInfo("Europe/Paris")


def message(i: int, at: datetime, text: str = "Où est ma commande ?", **extra: object) -> dict[str, object]:
    return {"id": f"m{i}-{at.timestamp()}", "kind": "message", "role": "user", "site": "shop.example.com",
            "conversation_id": f"c{i}", "message": text, "occurred_at": at.isoformat(), **extra}


async def test_a_day_counted_as_a_support_team_would(store: Store) -> None:
    config = make_config()
    day, before = date(2026, 3, 11), date(2026, 3, 10)
    events, previous = day_events(day, "Europe/Paris"), day_events(before, "Europe/Paris", conversations=30)
    await add(store, config, previous + events)
    period = period_for_date("0 8 * * *", PARIS, day)
    stats = await store.digest_stats(period.start, period.end, site=None, tz="Europe/Paris", top_n=5,
                                     previous_start=period.previous_start)

    users = [e for e in events if e.kind == "message" and e.role == "user"]
    assert stats.totals.conversations == len({e.conversation_id for e in events})
    assert stats.totals.user_messages == len(users)
    assert stats.totals.support_requests == sum(e.kind in ("support_request", "tool_call") for e in events)
    assert stats.totals.contact_requests == sum(e.kind == "contact_request" for e in events)
    assert stats.totals.keyword_alerts == sum(
        any(w in (e.message or "").lower() for w in ("remboursement", "refund")) for e in users)
    assert stats.previous is not None
    assert stats.previous.conversations == len({e.conversation_id for e in previous})

    # The most common questions are the fixture's groups, each counted once however written.
    group_of = {q: name for name, qs in QUESTIONS.items() for q in qs}
    expected = Counter(group_of[e.message or ""] for e in users)
    assert [q.count for q in stats.questions] == sorted(expected.values(), reverse=True)[:5]
    top_group = QUESTIONS[expected.most_common(1)[0][0]]
    assert stats.questions[0].example in top_group
    assert sum(stats.hourly) == len(events) - sum(e.role == "assistant" for e in events)


async def test_support_requests_list_the_first_twenty_and_count_the_rest(store: Store) -> None:
    config = make_config()
    start = datetime(2026, 3, 11, 8, 0, tzinfo=PARIS)
    await add(store, config, [
        {"id": f"r{i}", "kind": "support_request", "site": "shop.example.com", "conversation_id": f"c{i}",
         "message": f"Demande numéro {i} " + "très longue " * 30,
         "occurred_at": (start + timedelta(minutes=i)).isoformat()}
        for i in range(25)])
    p = due_period("0 8 * * *", PARIS, datetime(2026, 3, 12, 8, 0, tzinfo=PARIS))
    stats = await store.digest_stats(p.start, p.end, site=None, tz="Europe/Paris", top_n=10)
    assert stats.support_total == 25
    assert [s.id for s in stats.support] == [f"r{i}" for i in range(20)]
    assert all(len(s.excerpt) <= 141 and s.excerpt.endswith("…") for s in stats.support)


async def test_peak_hours_on_the_day_clocks_go_forward(store: Store) -> None:
    # One user message in the middle of every real hour of 29 March 2026 in Paris (23 hours).
    config = make_config()
    start = datetime(2026, 3, 29, tzinfo=PARIS).astimezone(UTC)
    await add(store, config, [message(i, start + timedelta(hours=i, minutes=30)) for i in range(23)])
    p = period_for_date("0 8 * * *", PARIS, date(2026, 3, 29))
    stats = await store.digest_stats(p.start, p.end, site=None, tz="Europe/Paris", top_n=10)
    assert stats.hourly[2] == 0  # 02:00-03:00 did not exist that night
    assert stats.hourly == [1, 1, 0] + [1] * 21
    assert stats.totals.user_messages == 23


async def test_peak_hours_on_the_day_clocks_go_back(store: Store) -> None:
    config = make_config()
    start = datetime(2026, 10, 25, tzinfo=PARIS).astimezone(UTC)
    await add(store, config, [message(i, start + timedelta(hours=i, minutes=30)) for i in range(25)])
    p = period_for_date("0 8 * * *", PARIS, date(2026, 10, 25))
    stats = await store.digest_stats(p.start, p.end, site=None, tz="Europe/Paris", top_n=10)
    assert stats.hourly[2] == 2  # 02:00-03:00 happened twice
    assert sum(stats.hourly) == 25 and stats.totals.user_messages == 25


async def test_digest_in_new_york_counts_new_york_hours(store: Store) -> None:
    config = make_config()
    # 13:30 UTC is 09:30 in New York (EDT) and 14:30 in Paris; 03:30 UTC the 12th is still the 11th in NY.
    await add(store, config, [message(1, datetime(2026, 4, 11, 13, 30, tzinfo=UTC)),
                              message(2, datetime(2026, 4, 12, 3, 30, tzinfo=UTC)),
                              message(3, datetime(2026, 4, 12, 4, 30, tzinfo=UTC))])
    ny = ZoneInfo("America/New_York")
    p = period_for_date("0 8 * * *", ny, date(2026, 4, 11))
    stats = await store.digest_stats(p.start, p.end, site=None, tz="America/New_York", top_n=10)
    assert stats.totals.user_messages == 2
    assert stats.hourly[9] == 1 and stats.hourly[23] == 1


async def test_site_filter(store: Store) -> None:
    config = make_config()
    at = datetime(2026, 3, 11, 10, tzinfo=PARIS)
    await add(store, config, [message(1, at), message(2, at, site="blog.example.com")])
    p = period_for_date("0 8 * * *", PARIS, date(2026, 3, 11))
    stats = await store.digest_stats(p.start, p.end, site="blog.example.com", tz="Europe/Paris", top_n=10)
    assert stats.totals.user_messages == 1 and stats.site == "blog.example.com"


async def test_delivery_health_counts_sent_retried_and_dead(store: Store) -> None:
    config = make_config()
    at = datetime(2026, 3, 11, 10, tzinfo=PARIS)
    await add(store, config, [
        {"id": f"s{i}", "kind": "support_request", "site": "shop.example.com", "conversation_id": f"c{i}",
         "message": "humain", "occurred_at": at.isoformat()} for i in range(3)], now=at)
    when = at + timedelta(minutes=5)
    claimed = await store.claim("w", when, timedelta(minutes=5), 10)
    ids = [c.delivery.id for c in claimed]
    assert len(ids) == 3
    await store.complete(ids[0], "w", when, ref=None, thread_ref=None, duration_ms=5)
    await store.reschedule(ids[1], "w", when, when + timedelta(minutes=1), reason="503", duration_ms=5)
    await store.dead(ids[2], "w", when, reason="404 Not Found", duration_ms=5)
    p = period_for_date("0 8 * * *", PARIS, date(2026, 3, 11))
    stats = await store.digest_stats(p.start, p.end, site=None, tz="Europe/Paris", top_n=10)
    h = stats.health
    assert (h.sent, h.retried, h.dead, h.dead_waiting, h.pending) == (1, 1, 1, 1, 1)
    other_day = period_for_date("0 8 * * *", PARIS, date(2026, 3, 12))
    later = await store.digest_stats(other_day.start, other_day.end, site=None, tz="Europe/Paris", top_n=10)
    assert (later.health.sent, later.health.dead, later.health.dead_waiting) == (0, 0, 1)
