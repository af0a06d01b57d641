"""A batch mixing repeats and new events, through the pipeline: each test runs on SQLite and PostgreSQL.

Deliveries and cases are drafted for the whole batch before the transaction begins, as
if every event were new; a repeat in the batch must change none of what is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.config.loader import parse_config
from notifier.core.events import Event
from notifier.pipeline import accept
from notifier.store import Store
from notifier.store.cases import CaseStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)

CONFIG = """
version: 1
defaults: {timezone: UTC, locale: en}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
    response_target: 2h
"""


def request(event_id: str, conversation: str, now: datetime) -> Event:
    return Event.model_validate({"id": event_id, "kind": "support_request", "site": "shop",
                                 "conversation_id": conversation, "message": "Je veux parler à quelqu'un"}
                                ).completed(now)


async def test_a_repeat_in_a_batch_of_new_events_changes_nothing_stored(store: Store) -> None:
    cfg = parse_config(CONFIG, "channels.yaml")
    first = await accept(store, cfg, [request("e1", "c1", T0), request("e2", "c2", T0)], T0)
    assert all(a.case is not None and not a.duplicate for a in first)
    c1 = first[0].case["id"]  # type: ignore[index]

    later = T0 + M
    second = await accept(store, cfg, [request("e3", "c3", later), request("e1", "c1", T0),
                                       request("e4", "c1", later)], later)
    new_c3, repeat, joined = second
    # The repeat is told it is one, with its case as it stands, and nothing is planned for it again.
    assert repeat.duplicate and repeat.deliveries == [] and repeat.case is not None and repeat.case["id"] == c1
    assert joined.case is not None and joined.case["id"] == c1 and len(joined.deliveries) == 1
    assert new_c3.case is not None and new_c3.case["id"] not in (c1, first[1].case["id"])  # type: ignore[index]

    cases = CaseStore(store.connector())
    case = await cases.get(c1)
    assert case is not None and case.events == 2
    history = await cases.history(c1)
    assert sorted(e["id"] for e in history["events"]) == ["e1", "e4"]
    assert len(history["deliveries"]) == 2


async def test_repeats_within_the_dedup_window_are_folded_across_batches(store: Store) -> None:
    cfg = parse_config(CONFIG.replace("defaults: {timezone: UTC, locale: en}",
                                      "defaults: {timezone: UTC, locale: en, dedup: {window: 10m}}"),
                       "channels.yaml")
    first = await accept(store, cfg, [request("e1", "c1", T0), request("e2", "c1", T0),
                                      request("e3", "c2", T0)], T0)
    assert [[d.status for d in a.deliveries] for a in first] == [["pending"], ["suppressed"], ["pending"]]
    # The window's state was saved with the batch: the next batch's request is folded too.
    (later,) = await accept(store, cfg, [request("e4", "c1", T0 + M)], T0 + M)
    assert [d.status for d in later.deliveries] == ["suppressed"]
    (after,) = await accept(store, cfg, [request("e5", "c1", T0 + 11 * M)], T0 + 11 * M)
    assert [d.status for d in after.deliveries] == ["pending"] and after.deliveries[0].folded == 2
