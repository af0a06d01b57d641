"""The retention purge on every backend: what goes, what stays, once a day across processes.

Events are accepted through the real pipeline at an old time, delivered (or failed) through
the store's own claim/complete/dead, then purged at the present.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier import metrics
from notifier.config import parse_config
from notifier.config.models import Config
from notifier.core.cases import case_identity
from notifier.core.events import Event, Kind, User
from notifier.pipeline import accept
from notifier.retention import Purger
from notifier.store import Store
from notifier.store.cases import CaseStore
from notifier.store.connector import queries
from notifier.store.retention import RetentionStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)
D = timedelta(days=1)

OpenStore = Callable[[], Awaitable[Store]]

CONFIG = """
version: 1
defaults:
  timezone: Europe/Paris
  retention: {events: 90d, deliveries: 30d, cases: 1y}
channels:
  hook: {type: webhook, url: "https://example.com/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
"""


def config() -> Config:
    return parse_config(CONFIG)


def request(event_id: str, conversation: str) -> Event:
    return Event.model_validate({
        "id": event_id, "kind": Kind.support_request, "site": "shop.example.com", "conversation_id": conversation,
        "message": f"Rappelez-moi ({event_id})",
        "user": User(name="Ana", email=f"{event_id}@example.com", consent=True)})


async def accepted(store: Store, ids: list[str], now: datetime) -> dict[str, str]:
    """Accept one request per id at ``now``; the id of each one's delivery."""
    done = await accept(store, config(), [request(i, f"conv-{i}").completed(now) for i in ids], now)
    return {a.id: a.deliveries[0].id for a in done}


async def settle(store: Store, now: datetime, outcomes: dict[str, str]) -> None:
    """Claim every due delivery and finish each as ``outcomes`` says (``sent`` or ``dead``; else left claimed)."""
    for c in await store.claim("w1", now, timedelta(minutes=5), 100):
        outcome = outcomes.get(c.delivery.id, "sent")
        if outcome == "sent":
            assert await store.complete(c.delivery.id, "w1", now, ref=None, thread_ref=None, duration_ms=1.0)
        elif outcome == "dead":
            assert await store.dead(c.delivery.id, "w1", now, reason="HTTP 400", duration_ms=1.0)
        elif outcome == "retry":
            assert await store.reschedule(c.delivery.id, "w1", now, now + timedelta(hours=1), reason="HTTP 503",
                                          duration_ms=1.0)


def purger(store: Store, worker: str = "w1", **kw: object) -> Purger:
    cfg = config()
    return Purger(store, lambda: cfg, worker, lambda: NOW, **kw)  # type: ignore[arg-type]


async def test_purge_removes_what_is_past_its_age_and_keeps_the_rest(store: Store) -> None:
    recent = await accepted(store, ["recent"], NOW - 5 * D)
    await settle(store, NOW - 5 * D, {})
    # A delivery of 40 days ago whose event is younger than 90 days: the delivery goes, the event stays.
    mid = await accepted(store, ["mid"], NOW - 40 * D)
    await settle(store, NOW - 40 * D, {})
    old = await accepted(store, ["sent-old", "dead-old", "waiting-old", "claimed-old"], OLD)
    await settle(store, OLD, {old["dead-old"]: "dead", old["waiting-old"]: "retry", old["claimed-old"]: "keep"})

    # A follow-up (a case's claim told to the channel) refers to the old delivery: it goes with it.
    case = await CaseStore(store.connector()).of_event("sent-old")
    assert case is not None
    await store.connector().execute(queries(store.connector().dialect, "follow_ups")["record"], {
        "case_id": case.id, "action": "claim", "actor": "ana", "via": "slack", "now": OLD, "note": None,
        "rows": f'[{{"delivery_id": "{old["sent-old"]}"}}]'})

    before = metrics.purged.labels("events")._value.get()
    purged = await purger(store).purge(NOW)
    assert purged.rows["follow_ups"] == 1

    assert await store.get_event("sent-old") is None and await store.get_event("dead-old") is None
    for gone in (old["sent-old"], old["dead-old"], mid["mid"]):
        assert await store.get_delivery(gone) is None
        assert await store.attempts(gone) == []
    # Never an event whose delivery may still be sent: waiting for a retry, or being sent now.
    for kept in ("waiting-old", "claimed-old"):
        assert await store.get_event(kept) is not None
        assert await store.get_delivery(old[kept]) is not None
    assert await store.get_event("recent") is not None and await store.get_delivery(recent["recent"]) is not None
    assert await store.get_event("mid") is not None
    assert purged.rows["events"] == 2 and purged.rows["deliveries"] == 3 and purged.rows["attempts"] == 3
    assert purged.held == 2
    assert metrics.purged.labels("events")._value.get() - before == 2

    # The dedup keys (they name the person) went with the old deliveries; the recent one's stays.
    keys = {r["key"] for r in await store.connector().fetch_all("SELECT key FROM dedup")}
    assert not any("sent-old" in k or "dead-old" in k for k in keys)
    assert any("recent" in k for k in keys)


async def test_a_purge_goes_in_batches_until_nothing_is_left(store: Store) -> None:
    ids = [f"e{i}" for i in range(7)]
    await accepted(store, ids, OLD)
    await settle(store, OLD, {})
    purged = await purger(store, batch_size=2, pause=0).purge(NOW)
    assert purged.rows["events"] == 7 and purged.rows["deliveries"] == 7
    assert all([await store.get_event(i) is None for i in ids])


async def test_old_cases_go_with_their_actions_and_timers(store: Store) -> None:
    cases = CaseStore(store.connector())
    for cid, at in (("case-old", NOW - 400 * D), ("case-new", NOW - 100 * D)):
        ev = request(f"ev-{cid}", cid).completed(at)
        async with store.transaction() as tx:
            assert await tx.insert_event(ev, at, None)
            await CaseStore(tx.connector()).open_or_join(
                case_id=cid, identity=case_identity(ev), event_id=ev.id or "", site=ev.site,
                conversation_id=ev.conversation_id, kind=ev.kind.value, route="handoff", locale="fr", now=at,
                expected=None, timers=[])
        await cases.act(cid, "claim", actor="ana@shop", via="cli", now=at)
    purged = await purger(store).purge(NOW)
    assert await cases.get("case-old") is None
    assert await cases.get("case-new") is not None
    assert purged.rows["cases"] == 1 and purged.rows["case_actions"] == 1
    # Both events were past 90 days: their links went with them, whichever case they belonged to.
    assert (await cases.history("case-new"))["events"] == []


async def test_a_dry_run_counts_and_removes_nothing(store: Store) -> None:
    await accepted(store, ["a", "b"], OLD)
    await settle(store, OLD, {})
    counted = await purger(store).run_now(NOW, dry_run=True)
    assert counted.rows["events"] == 2 and counted.rows["deliveries"] == 2 and counted.dry_run
    assert await store.get_event("a") is not None


async def test_each_day_is_purged_by_one_process_only(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(3)]
    await accepted(stores[0], ["x1", "x2", "x3"], OLD)
    await settle(stores[0], OLD, {})
    results = await asyncio.gather(*(purger(s, f"w{i}").tick(NOW) for i, s in enumerate(stores)))
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and ran[0].rows["events"] == 3
    # Later that day, and after a restart, nobody purges that day again.
    assert await purger(stores[1], "w1").tick(NOW + timedelta(hours=5)) is None
    # The next day is due again, once.
    assert await purger(stores[2], "w2").tick(NOW + D) is not None
    last = await RetentionStore(stores[0].connector()).last_run()
    assert last is not None and last["status"] == "done" and last["claimed_by"] == "w2"


async def test_a_claim_left_by_a_process_that_died_is_taken_over_after_an_hour(open_store: OpenStore) -> None:
    dead, alive = await open_store(), await open_store()
    day = "2026-06-01"
    assert await RetentionStore(dead.connector()).claim_day(day, "dead", NOW, stale_after=timedelta(hours=1))
    await accepted(alive, ["late"], OLD)
    await settle(alive, OLD, {})
    assert await purger(alive, "alive").tick(NOW + timedelta(minutes=30)) is None
    taken = await purger(alive, "alive").tick(NOW + timedelta(minutes=61))
    assert taken is not None and taken.rows["events"] == 1


async def test_the_digest_reports_what_the_purges_of_its_period_removed(store: Store) -> None:
    await accepted(store, ["p1", "p2"], OLD)
    await settle(store, OLD, {})
    await purger(store).tick(NOW)
    retention = RetentionStore(store.connector())
    removed = await retention.removed_between(NOW - D, NOW + D)
    assert removed["events"] == 2 and removed["deliveries"] == 2
    assert await retention.removed_between(NOW + D, NOW + 2 * D) == {}


async def test_the_daily_digest_says_what_was_purged(store: Store) -> None:
    from notifier.digest import DigestScheduler
    from notifier.render import Renderer

    await accepted(store, ["p1", "p2"], OLD)
    await settle(store, OLD, {})
    cfg = parse_config(CONFIG + "digests:\n  - {name: daily, to: [hook], sections: [delivery_health]}\n")
    day = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # purged on June 1st: reported by June 2nd's digest
    await Purger(store, lambda: cfg, "w1", lambda: day).tick(day)
    scheduler = DigestScheduler(cfg, store, {}, Renderer(), "w1")
    digest = cfg.digests[0]
    period = scheduler.due(digest, day + D)
    report = scheduler.report(digest, period, await scheduler.stats(digest, period))
    assert "Supprimés par la purge de rétention : 2 événements, 2 envois" in report.text
    assert report.data["delivery_health"]["purged"]["events"] == 2


def test_db_compact_makes_an_older_sqlite_file_give_space_back(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from notifier.cli import main

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # as a notifier before auto_vacuum made it
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 2000)
        conn.execute("DELETE FROM t")
    assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    before = path.stat().st_size
    assert main(["db", "compact", "--db", f"sqlite:///{path}"]) == 0
    assert "auto_vacuum incremental" in capsys.readouterr().out
    assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert path.stat().st_size < before / 10


def test_batches_shrink_when_slow_grow_back_when_fast_and_the_purge_waits_as_long_as_it_held() -> None:
    from notifier.retention import Pace

    pace = Pace(1000, 0.005)
    assert pace.after(0.2) == 0.2 and pace.size == 500   # held the lock 200 ms: waits 200 ms, halves
    assert pace.after(0.2) == 0.2 and pace.size == 250
    assert pace.after(0.001) == 0.005 and pace.size == 500  # fast again: grows back, never past 1,000
    for _ in range(5):
        pace.after(0.001)
    assert pace.size == 1000
    for _ in range(20):
        pace.after(1.0)
    assert pace.size == 50
