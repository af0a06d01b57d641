"""An erased visitor's case and alerts: the case leaves the queue, a replay sends no empty shell.

A privacy erasure anonymises the visitor's events. Their case, still waiting, would stay open
(and late) forever with nobody to answer; it is closed instead, in its history as done by the
erasure, and counted in no response time. An alert of an erased event replayed afterwards
would reach the channel empty; it is refused, on the store's mark (which a visitor's own
``erased`` label does not forge). On both backends, through the CLI and the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from notifier.api import create_app
from notifier.cases import act
from notifier.cli import main
from notifier.core.events import Event
from notifier.service import Service
from notifier.store.cases import CaseStore
from notifier.store.measures import MeasureStore
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Reply, Sink

WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # 10:00 in Paris; long past: its cases are late
H = timedelta(hours=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


CONFIG_ROUTES = """
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
    response_target: 30m
"""


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    text = webhook_config(sink.url, routes=CONFIG_ROUTES).replace("defaults:\n", "defaults:\n  response_clock: wall\n")
    # A slow receiver is waited for as long as a test may take to erase meanwhile.
    text = text.replace("timeout: 2s", "timeout: 60s")
    return await make_service(text, db=db_url, clock=Clock(WEDNESDAY))


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service, manage=False)),
                                 base_url="http://test") as c:
        yield c


def request_event(who: str, **kw: Any) -> Event:
    return Event.model_validate({"id": f"req-{who}", "kind": "support_request", "site": "shop",
                                 "conversation_id": f"c-{who}", "message": f"Rappelez-moi, {who}",
                                 "user": {"name": who, "email": f"{who}@example.com", "consent": True}, **kw})


async def cli(service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``notifier ARGS`` as an operator runs it beside the serving process; exit status and output."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--config", str(tmp_path / "channels.yaml"), "--db", service.db_url])
    return code, capsys.readouterr().out


async def case_of(service: Service, who: str) -> str:
    [accepted] = await service.accept([request_event(who)], now=WEDNESDAY)
    assert accepted.case is not None
    return str(accepted.case["id"])


async def test_an_erased_visitor_s_waiting_case_is_closed_and_leaves_the_queue_and_late_counts(
        service: Service, client: httpx.AsyncClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ana, bob, eve = [await case_of(service, w) for w in ("ana", "bob", "eve")]
    await act(service.store, service.config, bob, "claim", by="marie", via="api", now=WEDNESDAY + H / 6)
    assert service.worker is not None
    await service.worker.drain()
    # Before: Ana's and Eve's cases wait, late (their 30 minutes passed long ago).
    code, out = await cli(service, tmp_path, capsys, "cases", "--status", "open")
    assert code == 0 and ana in out and eve in out
    measures = MeasureStore(service.store.connector())
    day = (WEDNESDAY - 12 * H, WEDNESDAY + 12 * H)
    before = await measures.response_times(*day, site=None, at=WEDNESDAY + 2 * H, business_hours=False)
    assert before.overdue == 2 and before.opened == 3

    # The DPO erases Ana (waiting) and Bob (claimed by Marie, never answered).
    for who in ("ana", "bob"):
        code, out = await cli(service, tmp_path, capsys, "privacy", "erase", "--email", f"{who}@example.com",
                              "--yes")
        assert code == 0 and "1 case still waiting closed (resolved: erased): nobody is left to answer" in out

    # The queue: only Eve waits; Ana's and Bob's cases are closed, said so, and not late.
    code, out = await cli(service, tmp_path, capsys, "cases", "--status", "open")
    assert ana not in out and eve in out
    code, out = await cli(service, tmp_path, capsys, "cases", "--status", "claimed")
    assert "no cases with status claimed" in out
    code, out = await cli(service, tmp_path, capsys, "cases")
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.split()}
    for closed in (ana, bob):
        assert rows[closed].split()[1] == "resolved" and "(closed: visitor erased)" in rows[closed]
        assert "!" not in rows[closed]
    assert "!" in rows[eve]
    listed = (await client.get("/v1/cases", params={"status": "open"})).json()["cases"]
    assert [c["id"] for c in listed] == [eve]

    # Its history says the erasure closed it, who ran it and why; its timings count no answer.
    case = (await client.get(f"/v1/cases/{ana}")).json()
    assert case["status"] == "resolved" and case["resolved_because"] == "erased" and case["resolved_by"] is None
    [closing] = [a for a in case["actions"] if a["via"] == "erasure"]
    assert closing["action"] == "resolve" and closing["outcome"] == "done" and closing["actor"]
    assert closing["note"] == "closed by the erasure of the visitor's data: nobody is left to answer"
    assert case["timings"] == {**case["timings"], "late": False, "to_resolve": None, "waiting": None}
    claimed = (await client.get(f"/v1/cases/{bob}")).json()
    assert claimed["claimed_by"] == "marie" and claimed["timings"]["to_claim"] is not None

    # The late counts and the resolution rate no longer hold them; no resolution was measured.
    after = await measures.response_times(*day, site=None, at=WEDNESDAY + 2 * H, business_hours=False)
    assert after.overdue == 1 and [c.id for c in after.overdue_cases] == [eve]
    assert (after.opened, after.opened_resolved, after.resolved.count) == (1, 0, 0)
    assert after.claimed.count == 1  # Marie's claim of Bob's case happened, and stays measured


async def test_an_erased_case_is_not_reopened_or_claimed_by_an_agent(
        service: Service, client: httpx.AsyncClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ana = await case_of(service, "ana")
    code, _ = await cli(service, tmp_path, capsys, "privacy", "erase", "--email", "ana@example.com", "--yes")
    assert code == 0
    code, out = await cli(service, tmp_path, capsys, "reopen", ana, "--by", "paul")
    assert code == 1
    assert f"case {ana} is closed: its visitor's data was erased, nobody is left to answer" in out
    code, out = await cli(service, tmp_path, capsys, "claim", ana, "--by", "paul")
    assert code == 1 and "its visitor's data was erased" in out
    r = await client.post(f"/v1/cases/{ana}/reopen", json={"by": "paul"})
    assert r.status_code == 409 and "its visitor's data was erased, nobody is left to answer" in r.text
    history = await CaseStore(service.store.connector()).history(ana)
    assert [(a["action"], a["outcome"]) for a in history["actions"]] == [
        ("resolve", "done"), ("reopen", "refused"), ("claim", "refused"), ("reopen", "refused")]
    assert (await CaseStore(service.store.connector()).get(ana)).status == "resolved"  # type: ignore[union-attr]
    # Resolving it again changes nothing, and is not an error.
    code, out = await cli(service, tmp_path, capsys, "resolve", ana, "--by", "paul")
    assert code == 0 and "already resolved" in out


async def alerts(service: Service, who: str) -> list[dict[str, Any]]:
    rows = await service.store.connector().fetch_all(
        "SELECT id, status, last_error FROM deliveries WHERE event_id = " +
        ("%(e)s" if service.store.connector().dialect == "postgresql" else ":e"), {"e": f"req-{who}"})
    return [dict(r) for r in rows]


async def test_a_replayed_alert_of_an_erased_event_sends_no_empty_shell(
        service: Service, client: httpx.AsyncClient, sink: Sink, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert service.worker is not None
    await case_of(service, "ana")
    await service.worker.drain()  # its alert is sent
    sink.reply(Reply(400, b'{"error":"bad"}'))
    await case_of(service, "bob")
    await service.worker.drain()  # its alert is refused: a dead letter
    [sent], [dead] = await alerts(service, "ana"), await alerts(service, "bob")
    assert (sent["status"], dead["status"]) == ("sent", "dead")
    for who in ("ana", "bob"):
        code, _ = await cli(service, tmp_path, capsys, "privacy", "erase", "--email", f"{who}@example.com", "--yes")
        assert code == 0
    received = len(sink.received)

    code, out = await cli(service, tmp_path, capsys, "replay", sent["id"])
    assert code == 1
    assert (f"not replayed: the event of delivery {sent['id']} was erased (the visitor's data): "
            "nothing is left to send") in out
    r = await client.post(f"/v1/deliveries/{dead['id']}/replay")
    assert r.status_code == 409 and "was erased (the visitor's data): nothing is left to send" in r.text
    code, out = await cli(service, tmp_path, capsys, "replay", "--dead")
    assert code == 0 and "nothing to replay" in out
    await service.worker.drain()
    assert len(sink.received) == received
    assert [d["status"] for d in await alerts(service, "ana") + await alerts(service, "bob")] == ["sent", "dead"]


async def test_a_visitor_s_own_erased_label_does_not_stop_their_alert(
        service: Service, client: httpx.AsyncClient, sink: Sink) -> None:
    # The label an erasure leaves on what remains is a visitor's to write too: it proves nothing.
    body = {**orjson.loads(request_event("zoe").model_dump_json(exclude_none=True)), "labels": {"erased": "true"}}
    assert (await client.post("/v1/events", json=body)).status_code == 202
    assert service.worker is not None
    await service.worker.drain()
    [alert] = await alerts(service, "zoe")
    assert alert["status"] == "sent" and "Rappelez-moi, zoe" in sink.received[-1].body.decode()
    assert (await client.post(f"/v1/deliveries/{alert['id']}/replay")).status_code == 202
    await service.worker.drain()
    assert [r.body.decode().count("Rappelez-moi, zoe") > 0 for r in sink.received] == [True, True]


async def test_an_alert_retried_after_its_event_was_erased_is_a_dead_letter_saying_why(
        service: Service, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ana's alert is on its way (the receiver is slow) when she is erased; it fails and would be
    # retried with what remains of her request: an empty shell. It ends a dead letter instead.
    erased = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_then_down(_: Any) -> Reply:
        asyncio.run_coroutine_threadsafe(erased.wait(), loop).result(timeout=60)
        sink.responder = None
        return Reply(503, b"busy")

    sink.responder = slow_then_down
    await case_of(service, "ana")
    assert service.worker is not None
    sending = asyncio.create_task(service.worker.drain())
    deadline = loop.time() + 60
    while [d["status"] for d in await alerts(service, "ana")] != ["claimed"]:
        assert loop.time() < deadline, "the alert was never taken"
        await asyncio.sleep(0.01)
    code, _ = await cli(service, tmp_path, capsys, "privacy", "erase", "--email", "ana@example.com", "--yes")
    assert code == 0
    erased.set()
    await sending
    clock: Clock = service.clock  # type: ignore[assignment]
    clock.now += H  # its retry is due
    await service.worker.drain()
    [alert] = await alerts(service, "ana")
    assert alert["status"] == "dead"
    assert alert["last_error"] == "not sent: its event was erased (the visitor's data), nothing is left to send"
    assert len(sink.received) == 1  # the first attempt only


async def test_the_upgrade_brings_earlier_erasures_in_line(
        service: Service, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A database erased by the release before this one: its events carry only the erasure's label
    # and the visitor's case still waits. `notifier db upgrade` marks and closes what it left.
    ana = await case_of(service, "ana")
    zoe_event = {**orjson.loads(request_event("zoe").model_dump_json(exclude_none=True)), "labels": {"erased": "true"}}
    await service.accept([Event.model_validate(zoe_event)], now=WEDNESDAY)  # a visitor's own label
    assert service.worker is not None
    await service.worker.drain()  # both alerts sent
    code, _ = await cli(service, tmp_path, capsys, "privacy", "erase", "--email", "ana@example.com", "--yes")
    assert code == 0
    db = service.store.connector()
    for statement in ("DELETE FROM case_actions WHERE via = 'erasure'",
                      "UPDATE cases SET status = 'open', resolved_at = NULL",
                      "ALTER TABLE cases DROP COLUMN resolved_because",
                      "ALTER TABLE events DROP COLUMN erased_at",
                      "DELETE FROM schema_migrations WHERE version = 14"):
        await db.execute(statement)
    await service.close()

    capsys.readouterr()
    assert await asyncio.to_thread(main, ["db", "upgrade", "--db", service.db_url]) == 0
    assert "14" in capsys.readouterr().out
    code, out = await cli(service, tmp_path, capsys, "cases", "--status", "open")
    assert ana not in out and "no cases with status open" not in out  # Zoe's still waits
    code, out = await cli(service, tmp_path, capsys, "cases", "--json")
    closed = {c["id"]: (c["status"], c["resolved_because"]) for c in orjson.loads(out)}
    assert closed[ana] == ("resolved", "erased") and ("open", None) in closed.values()
    code, out = await cli(service, tmp_path, capsys, "deliveries", "--json")
    alert = {d["event_id"]: d["id"] for d in orjson.loads(out)}
    code, out = await cli(service, tmp_path, capsys, "replay", alert["req-ana"])
    assert code == 1 and "not replayed: the event of delivery" in out
    code, out = await cli(service, tmp_path, capsys, "replay", alert["req-zoe"])
    assert code == 0 and "1 delivery queued again" in out
