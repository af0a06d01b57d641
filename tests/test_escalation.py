"""Escalation: a case nobody claims climbs, once per step, across restarts, on both backends.

The clock is injected and the worker drained: nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.cases import act
from notifier.cli import main
from notifier.core.events import Event
from notifier.core.subject import Subject
from notifier.escalation import fire_due
from notifier.inbox import captured
from notifier.privacy import erase_subject
from notifier.service import Service
from notifier.store.cases import CaseStore
from tests.conftest import ServiceFactory, webhook_config
from tests.pgserver import PgServer
from tests.sink import Sink

WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # 10:00 in Paris
FRIDAY_EVENING = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # 19:00 in Paris
M = timedelta(minutes=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def config(url: str, escalate: str = "[{after: 15m, to: [oncall]}, {after: 1h, to: [oncall, mail]}]") -> str:
    return webhook_config(url, extra=f'  oncall: {{type: webhook, url: "{url}", timeout: 2s}}\n'
                                     '  mail: {type: email, to: [manager@example.com]}\n', routes=f"""
      - name: handoff
        match: {{kinds: [support_request]}}
        to: [hook]
        escalate: {escalate}
    """)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/escalation.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


def request_event(event_id: str = "e1") -> Event:
    return Event.model_validate({"id": event_id, "kind": "support_request", "site": "shop",
                                 "conversation_id": "c1", "message": "Un humain svp",
                                 "user": {"name": "Ana", "email": "ana@example.com", "consent": True}})


def posted(sink: Sink) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in sink.received]


Start = Callable[..., Any]


async def test_fires_once_per_step_after_its_delay(make_service: ServiceFactory, sink: Sink, db: str,
                                                  tmp_path: Path) -> None:
    clock = Clock(WEDNESDAY)
    service: Service = await make_service(config(sink.url), db=db, clock=clock)
    assert service.worker is not None
    [accepted] = await service.accept([request_event()])
    assert accepted.case is not None
    await service.worker.drain()
    assert len(sink.received) == 1  # the request itself, to the team
    assert await fire_due(service.store, service.config, "w1", WEDNESDAY + 14 * M) == []
    fired = await fire_due(service.store, service.config, "w1", WEDNESDAY + 16 * M)
    assert [(t.step, t.channels) for t in fired] == [(0, ("oncall",))]
    # Another pass, by this process or another, finds nothing more to fire for that step.
    assert await fire_due(service.store, service.config, "w2", WEDNESDAY + 17 * M) == []
    clock.now = WEDNESDAY + 17 * M
    await service.worker.drain()
    [_request, escalation] = posted(sink)
    labels = escalation["event"]["labels"] if "event" in escalation else escalation["labels"]
    assert labels["escalation"] == "1" and labels["waited"] == "16m"
    assert labels["escalated_case"] == accepted.case["id"]
    # The second step goes to the webhook and the manager's email, which says what it escalates.
    assert [t.step for t in await fire_due(service.store, service.config, "w1", WEDNESDAY + 61 * M)] == [1]
    clock.now = WEDNESDAY + 61 * M
    await service.worker.drain()
    assert len(sink.received) == 3
    # The case's history lists what it escalated, and those deliveries.
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    assert [e["kind"] for e in history["events"]] == ["support_request", "escalation", "escalation"]
    assert sorted(d["channel"] for d in history["deliveries"]) == ["hook", "mail", "oncall", "oncall"]
    assert [t["status"] for t in history["escalations"]] == ["fired", "fired"]
    [mail] = captured(tmp_path / "inbox")
    assert "Escalade 2 : personne n'a pris en charge depuis 1h1m" in mail.subject
    body = mail.message().get_body(("plain",))
    assert body is not None and "attend depuis 1h1m" in body.get_content()


async def test_nothing_fires_once_claimed(make_service: ServiceFactory, sink: Sink, db: str) -> None:
    service = await make_service(config(sink.url), db=db, clock=Clock(WEDNESDAY))
    [accepted] = await service.accept([request_event()], now=WEDNESDAY)
    assert accepted.case is not None
    result = await act(service.store, service.config, accepted.case["id"], "claim", by="marie", via="api",
                       now=WEDNESDAY + 5 * M)
    assert result.outcome == "done"
    assert await fire_due(service.store, service.config, "w1", WEDNESDAY + 120 * M) == []


async def test_a_restart_in_the_middle_neither_loses_nor_repeats(make_service: ServiceFactory, sink: Sink,
                                                                 db: str) -> None:
    first = await make_service(config(sink.url), db=db, clock=Clock(WEDNESDAY))
    await first.accept([request_event()], now=WEDNESDAY)
    await first.close()  # the process stops before anything is due
    second = await make_service(config(sink.url), db=db, clock=Clock(WEDNESDAY + 16 * M))
    assert len(await fire_due(second.store, second.config, "w2", WEDNESDAY + 16 * M)) == 1
    await second.close()  # and this one stops after firing, before delivering
    third = await make_service(config(sink.url), db=db, clock=Clock(WEDNESDAY + 20 * M))
    assert await fire_due(third.store, third.config, "w3", WEDNESDAY + 20 * M) == []
    assert third.worker is not None
    await third.worker.drain()
    labels = [p.get("event", p).get("labels", {}) for p in posted(sink)]
    assert [lab.get("escalation") for lab in labels].count("1") == 1


async def test_a_business_hours_clock_waits_for_the_office_to_open(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall], clock: business_hours}]"),
                                 clock=Clock(FRIDAY_EVENING))
    await service.accept([request_event()], now=FRIDAY_EVENING)
    saturday = FRIDAY_EVENING + 24 * 60 * M
    assert await fire_due(service.store, service.config, "w1", saturday) == []
    monday_0914 = datetime(2026, 3, 9, 8, 14, tzinfo=UTC)
    assert await fire_due(service.store, service.config, "w1", monday_0914) == []
    assert len(await fire_due(service.store, service.config, "w1", monday_0914 + M)) == 1


async def test_the_running_service_fires_what_is_due(make_service: ServiceFactory, sink: Sink) -> None:
    import asyncio
    import time

    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url), clock=clock)
    await service.accept([request_event()], now=WEDNESDAY)
    clock.now = WEDNESDAY + 16 * M
    runner = asyncio.create_task(service.run(worker=True, digests=False))
    deadline = time.monotonic() + 60
    while len(sink.received) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    service.stop()
    await runner
    assert sorted(p.get("event", p).get("labels", {}).get("escalation", "-") for p in posted(sink)) == ["-", "1"]


async def test_a_request_with_every_label_it_may_carry_still_escalates(make_service: ServiceFactory,
                                                                       sink: Sink) -> None:
    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url), clock=clock)
    full = request_event().model_copy(update={"labels": {f"k{i}": "v" for i in range(50)}})
    await service.accept([full], now=WEDNESDAY)
    assert len(await fire_due(service.store, service.config, "w1", WEDNESDAY + 16 * M)) == 1
    clock.now = WEDNESDAY + 16 * M
    assert service.worker is not None
    await service.worker.drain()
    labels = [p.get("event", p).get("labels", {}) for p in posted(sink)]
    escalated = [lab for lab in labels if lab.get("escalation") == "1"]
    assert len(escalated) == 1 and len(escalated[0]) == 50 and escalated[0]["waited"] == "16m"


async def test_a_step_whose_channel_a_reload_renamed_still_reaches_someone(make_service: ServiceFactory,
                                                                          sink: Sink, tmp_path: Path) -> None:
    # The on-call channel is renamed while a case waits: its stored timer names a channel that
    # no longer exists. The step still goes out, to whom the route's step names now.
    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall]}]"), clock=clock)
    await service.accept([request_event()], now=WEDNESDAY)
    renamed = config(sink.url, "[{after: 15m, to: [pager]}]").replace("  oncall: {", "  pager: {")
    (tmp_path / "channels.yaml").write_text(renamed, encoding="utf-8")
    assert await service.reload() == []
    clock.now = WEDNESDAY + 16 * M
    assert len(await fire_due(service.store, service.config, "w1", clock.now)) == 1
    assert service.worker is not None
    await service.worker.drain()
    escalations = [p for p in posted(sink) if p.get("event", p).get("labels", {}).get("escalation") == "1"]
    assert len(escalations) == 1


async def test_a_timer_due_while_its_case_is_being_resolved_does_not_fire(make_service: ServiceFactory,
                                                                          sink: Sink, pg_server: PgServer) -> None:
    # An agent resolves the case at the very moment its step falls due: the resolution has
    # changed the case but not committed yet when the escalator looks. The escalator must not
    # fire on the case as it stood before (the on-call would be paged for a resolved case).
    import asyncio

    import psycopg

    db = pg_server.create_database()
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall]}]"), db=db, clock=Clock(WEDNESDAY))
    [accepted] = await service.accept([request_event()], now=WEDNESDAY)
    assert accepted.case is not None
    agent = await psycopg.AsyncConnection.connect(db)
    try:
        await agent.execute("UPDATE cases SET status = 'resolved', resolved_by = 'marie' WHERE id = %s",
                            (accepted.case["id"],))
        fired = await asyncio.wait_for(fire_due(service.store, service.config, "w1", WEDNESDAY + 16 * M), 60)
        assert fired == []
        await agent.execute("UPDATE case_timers SET status = 'cancelled' WHERE case_id = %s AND status = 'pending'",
                            (accepted.case["id"],))
        await agent.commit()
    finally:
        await agent.close()
    assert await fire_due(service.store, service.config, "w1", WEDNESDAY + 17 * M) == []


async def test_a_claim_stops_an_escalation_still_being_retried(make_service: ServiceFactory, sink: Sink,
                                                               db: str) -> None:
    # The on-call channel failed when the step fired and its delivery waits for a retry; Marie
    # takes the case meanwhile. When the channel comes back, nobody is paged for her case.
    from tests.sink import Reply

    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall]}]"), db=db, clock=clock)
    assert service.worker is not None
    [accepted] = await service.accept([request_event()], now=WEDNESDAY)
    assert accepted.case is not None
    await service.worker.drain()
    sink.reply(Reply(503, b'{"error":"unavailable"}'))
    clock.now = WEDNESDAY + 16 * M
    assert len(await fire_due(service.store, service.config, "w1", clock.now)) == 1
    await service.worker.drain()
    assert len(sink.received) == 2  # the request, then the escalation's failed first try
    clock.now = WEDNESDAY + 20 * M
    await act(service.store, service.config, accepted.case["id"], "claim", by="marie", via="api", now=clock.now)
    clock.now = WEDNESDAY + 3 * 60 * M
    await service.worker.drain()
    assert len(sink.received) == 2
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    [escalation] = [d for d in history["deliveries"] if d["route"] == "escalation"]
    assert escalation["status"] == "suppressed"


async def test_replaying_every_dead_letter_pages_nobody_for_a_case_taken_since(make_service: ServiceFactory,
                                                                               sink: Sink, db: str) -> None:
    # The on-call channel refused the step (a dead letter); Marie took the case. The operator
    # fixes the channel and replays every dead letter: the other ones go out again, but the
    # on-call is not paged for a case someone has had for hours. One named by its id still is.
    from tests.sink import Reply

    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall]}]"), db=db, clock=clock)
    assert service.worker is not None
    [taken, waiting] = [(await service.accept([request_event(i).model_copy(update={"conversation_id": i})],
                                              now=WEDNESDAY))[0] for i in ("taken", "waiting")]
    assert taken.case is not None and waiting.case is not None
    await service.worker.drain()
    sink.reply(Reply(400, b'{"error":"bad number"}'), Reply(400, b'{"error":"bad number"}'))
    clock.now = WEDNESDAY + 16 * M
    assert len(await fire_due(service.store, service.config, "w1", clock.now)) == 2
    await service.worker.drain()
    await act(service.store, service.config, taken.case["id"], "claim", by="marie", via="api", now=clock.now)

    async def escalation_of(case_id: str) -> dict[str, Any]:
        history = await CaseStore(service.store.connector()).history(case_id)
        [d] = [d for d in history["deliveries"] if d["route"] == "escalation"]
        return d

    dead_taken, dead_waiting = await escalation_of(taken.case["id"]), await escalation_of(waiting.case["id"])
    assert (dead_taken["status"], dead_waiting["status"]) == ("dead", "dead")
    assert await service.store.replay(clock.now, all_dead=True) == [dead_waiting["id"]]
    assert await service.store.replay(clock.now, dead_taken["id"]) == [dead_taken["id"]]


async def test_an_erased_visitor_s_case_pages_nobody_and_says_why(make_service: ServiceFactory, sink: Sink,
                                                                    db: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Ana asks for her data to be erased while her request waits. Her case's escalation steps
    # are cancelled with it: the on-call is not paged with an empty message a quarter of an hour
    # later, and the case's history says the steps were cancelled because the case was erased.
    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url), db=db, clock=clock)
    assert service.worker is not None
    [accepted] = await service.accept([request_event()], now=WEDNESDAY)
    assert accepted.case is not None
    case_id = accepted.case["id"]
    await service.worker.drain()
    assert len(sink.received) == 1  # the request, to the team
    clock.now = WEDNESDAY + 5 * M
    capsys.readouterr()
    # As the DPO runs it beside the serving process (in a thread: its own event loop and store).
    assert await asyncio.to_thread(main, ["privacy", "erase", "--email", "ana@example.com", "--yes",
                                          "--config", str(tmp_path / "channels.yaml"), "--db", db]) == 0
    assert "2 escalation steps of the erased cases cancelled: nothing is left to send" in capsys.readouterr().out
    for minutes in (16, 61):
        clock.now = WEDNESDAY + minutes * M
        assert await fire_due(service.store, service.config, "w1", clock.now) == []
        await service.worker.drain()
    assert len(sink.received) == 1
    history = await CaseStore(service.store.connector()).history(case_id)
    assert [(t["status"], t["cancelled_because"]) for t in history["escalations"]] == [("cancelled", "erased")] * 2

    # The erasure closed the case; an agent cannot reopen it (nobody is left to answer), so no
    # new round arms steps that would page anyone.
    reopened = await act(service.store, service.config, case_id, "reopen", by="marie", via="api", now=clock.now)
    assert reopened.outcome == "refused" and reopened.case.status == "resolved"
    clock.now += 16 * M
    assert await fire_due(service.store, service.config, "w1", clock.now) == []
    await service.worker.drain()
    assert len(sink.received) == 1
    history = await CaseStore(service.store.connector()).history(case_id)
    assert [(t["round"], t["status"], t["cancelled_because"]) for t in history["escalations"]] == [
        (1, "cancelled", "erased"), (1, "cancelled", "erased")]
    assert not [e for e in history["events"] if e["kind"] == "escalation"]


async def test_an_escalation_replayed_after_its_case_was_erased_sends_nothing(make_service: ServiceFactory,
                                                                               sink: Sink, db: str) -> None:
    # The on-call was paged, then the visitor erased. An operator replays that page (by its id,
    # or with every dead letter): what remains of it is an empty shell, so the replay is refused
    # and nothing goes out.
    clock = Clock(WEDNESDAY)
    service = await make_service(config(sink.url, "[{after: 15m, to: [oncall]}]"), db=db, clock=clock)
    assert service.worker is not None
    [accepted] = await service.accept([request_event()], now=WEDNESDAY)
    assert accepted.case is not None
    clock.now = WEDNESDAY + 16 * M
    assert len(await fire_due(service.store, service.config, "w1", clock.now)) == 1
    await service.worker.drain()
    assert len(sink.received) == 2  # the request and the page
    report = await erase_subject(service.config, service.store, Subject.email("ana@example.com"), erased_by="dpo",
                                 via="api", now=clock.now)
    assert report["counts"]["escalations"] == 0  # the one step fired already
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    [page] = [d for d in history["deliveries"] if d["route"] == "escalation"]
    # Its event was erased (the store marks it): a replay by its id is refused, nothing is sent.
    assert await service.store.replay(clock.now, page["id"]) == []
    await service.worker.drain()
    assert len(sink.received) == 2
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    [page] = [d for d in history["deliveries"] if d["route"] == "escalation"]
    assert page["status"] == "sent"
    # Replaying every dead letter leaves it out too.
    assert await service.store.replay(clock.now, all_dead=True) == []
