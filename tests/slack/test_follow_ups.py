"""Follow-ups: an action on a case, from anywhere, reaches every channel that announced it.

Through the real store, worker and Slack adapter against the fake Slack: a claim from the
API or the CLI updates the Slack alert in place and replies in its thread; a channel that
cannot follow up (a webhook) is skipped; a failing update is retried, then dead-lettered,
like any delivery; both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.cases import act
from notifier.core.events import Event
from notifier.follow_ups import FOLLOW_UP_ROUTE
from notifier.store.cases import CaseStore
from tests.channels.fakes import FakeSlack, Reply
from tests.conftest import ServiceFactory
from tests.pgserver import PgServer
from tests.sink import Sink

NOW = datetime(2026, 3, 4, 13, 5, tzinfo=UTC)  # 14:05 in Paris


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/follow.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


def config(slack: FakeSlack, sink: Sink, *, locale: str = "fr") -> str:
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
  retry: {{attempts: 3, backoff: 10ms, max_backoff: 20ms}}
channels:
  team-slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}",
               signing_secret: "s3cret", locale: {locale}, rate: 100}}
  hook: {{type: webhook, url: "{sink.url}"}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [team-slack, hook]
"""


def request(event_id: str = "e1") -> Event:
    return Event.model_validate({"id": event_id, "kind": "support_request", "site": "shop.example.com",
                                 "conversation_id": "c-1", "message": "Je veux parler à quelqu'un"})


def texts(blocks: list[dict[str, object]]) -> str:
    return str(blocks)


async def test_a_claim_from_the_api_updates_the_slack_alert_and_replies_in_its_thread(
        make_service: ServiceFactory, slack: FakeSlack, sink: Sink, db: str) -> None:
    clock = Clock(NOW)
    service = await make_service(config(slack, sink), db=db, clock=clock)
    assert service.worker is not None
    [accepted] = await service.accept([request()])
    assert accepted.case is not None
    case_id = accepted.case["id"]
    await service.worker.drain()
    [alert] = slack.messages
    buttons = [b for b in alert["blocks"] if b.get("block_id") == f"case:{case_id}"]
    assert [e["text"]["text"] for e in buttons[0]["elements"]] == ["Je m'en occupe", "Résolu"]
    assert {e["value"] for e in buttons[0]["elements"]} == {f"{case_id}:1"}  # the case and the round the message shows

    result = await act(service.store, service.config, case_id, "claim", by="Marie", via="api", now=NOW)
    assert result.changed
    follow = [d for d in await service.store.list_deliveries(channel="team-slack") if d.route == FOLLOW_UP_ROUTE]
    assert [d.status for d in follow] == ["pending"]  # committed with the action, before any send
    # The webhook cannot edit what it posted: it gets no follow-up.
    assert [d.route for d in await service.store.list_deliveries(channel="hook")] == ["handoff"]
    await service.worker.drain()

    [update] = slack.updates
    assert update["ts"] == alert["ts"] and update["channel"] == "C0SUPPORT"
    shown = str(update["blocks"])
    assert "Pris en charge par Marie à <!date^" in shown and "|14:05>" in shown
    [remaining] = [b for b in update["blocks"] if b.get("block_id") == f"case:{case_id}"]
    assert [e["action_id"] for e in remaining["elements"]] == ["case_resolve"]
    [reply] = slack.replies(alert["ts"])
    assert reply["text"].startswith("✋ Pris en charge par Marie à")
    history = await CaseStore(service.store.connector()).history(case_id)
    assert sorted((d["route"], d["status"]) for d in history["deliveries"] if d["channel"] == "team-slack") == [
        (FOLLOW_UP_ROUTE, "sent"), ("handoff", "sent")]

    clock.now = NOW + timedelta(minutes=25)
    await act(service.store, service.config, case_id, "resolve", by="Marie", via="cli",
              now=clock.now, note="Rappelée, c'est réglé")
    await service.worker.drain()
    latest = slack.message(alert["ts"])
    assert "Résolu par Marie" in str(latest["blocks"]) and "Rappelée, c'est réglé" in str(latest["blocks"])
    [reopen] = [b for b in latest["blocks"] if b.get("block_id") == f"case:{case_id}"]
    assert [e["action_id"] for e in reopen["elements"]] == ["case_reopen"]
    assert len(slack.replies(alert["ts"])) == 2


async def test_an_unchanged_action_tells_nobody(make_service: ServiceFactory, slack: FakeSlack, sink: Sink,
                                                tmp_path: Path) -> None:
    service = await make_service(config(slack, sink, locale="en"), clock=Clock(NOW))
    assert service.worker is not None
    [accepted] = await service.accept([request()])
    assert accepted.case is not None
    await service.worker.drain()
    await act(service.store, service.config, accepted.case["id"], "claim", by="Marie", via="api", now=NOW)
    again = await act(service.store, service.config, accepted.case["id"], "claim", by="Marie", via="api", now=NOW)
    refused = await act(service.store, service.config, accepted.case["id"], "claim", by="Paul", via="api", now=NOW)
    assert (again.outcome, refused.outcome) == ("unchanged", "refused")
    await service.worker.drain()
    assert len(slack.updates) == 1
    assert "Claimed by Marie" in str(slack.updates[0]["blocks"])


async def test_a_failing_update_is_retried_then_dead_lettered_like_any_delivery(
        make_service: ServiceFactory, slack: FakeSlack, sink: Sink) -> None:
    service = await make_service(config(slack, sink))  # the real clock: retries come due
    assert service.worker is not None
    [accepted] = await service.accept([request()])
    assert accepted.case is not None
    await service.worker.drain()
    slack.script(Reply(503, {"ok": False}), Reply(503, {"ok": False}), Reply(503, {"ok": False}))
    await act(service.store, service.config, accepted.case["id"], "claim", by="Marie", via="api", now=datetime.now(UTC))
    await service.worker.drain(include_retries=True, timeout=20)
    [follow] = [d for d in await service.store.list_deliveries(channel="team-slack") if d.route == FOLLOW_UP_ROUTE]
    assert follow.status == "dead" and follow.attempts == 3
    assert "503" in (follow.last_error or "")
    assert slack.updates == []
    # Replayed once Slack is back, it lands.
    assert await service.store.replay(datetime.now(UTC), follow.id) == [follow.id]
    await service.worker.drain()
    assert len(slack.updates) == 1


async def test_follow_ups_of_one_case_are_sent_in_order(make_service: ServiceFactory, slack: FakeSlack,
                                                         sink: Sink) -> None:
    """A claim and a resolution a moment apart: the thread tells them in that order and the
    message ends resolved, even with several sends in flight on the channel."""
    service = await make_service(config(slack, sink))
    assert service.worker is not None
    [accepted] = await service.accept([request()])
    assert accepted.case is not None
    await service.worker.drain()
    [alert] = slack.messages
    case_id = accepted.case["id"]
    now = datetime.now(UTC)
    await act(service.store, service.config, case_id, "claim", by="Marie", via="api", now=now)
    await act(service.store, service.config, case_id, "resolve", by="Marie", via="api",
              now=now + timedelta(microseconds=1))
    await service.worker.drain(include_retries=True, timeout=20)
    replies = [m["text"] for m in slack.replies(alert["ts"])]
    assert len(replies) == 2 and replies[0].startswith("✋") and replies[1].startswith("✅")
    assert "Résolu par Marie" in str(slack.message(alert["ts"])["blocks"])
    assert [u["blocks"] is not None for u in slack.updates] == [True, True]
