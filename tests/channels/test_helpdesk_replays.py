"""A captured helpdesk webhook sent again changes nothing, whichever process or host gets it.

``serve --api-processes`` runs several API processes, and on PostgreSQL several hosts share
one database: a request the helpdesk sent once (and an eavesdropper kept) may reach any of
them, or a process started after it. Here two app instances on one database stand for two
processes (real HTTP over loopback to each), on SQLite and on PostgreSQL; the slow test runs
``serve --api-processes 2`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.service import Service
from tests.channels.fakes import FakeFreshdesk, FakeZendesk, freshdesk_webhook, zendesk_webhook
from tests.channels.test_helpdesk_inbound import (
    ADMIN,
    ADMIN_HEADERS,
    FRESHDESK_SECRET,
    ZENDESK_SECRET,
    case,
    config,
    freshdesk,
    ticketed_case,
    zendesk,
)
from tests.conftest import ServiceFactory
from tests.console.helpers import serving as serving_api
from tests.sink import free_port

__all__ = ["freshdesk", "zendesk"]  # fixtures, used by name


@contextlib.asynccontextmanager
async def serving(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The service's API on a loopback port of its own (uvicorn), and a client of it."""
    async with serving_api(service) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_services(request: pytest.FixtureRequest, make_service: ServiceFactory, zendesk: FakeZendesk,
                       freshdesk: FakeFreshdesk, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> tuple[Service, Service, Callable[[], Any]]:
    """Two services on one database (two API processes, or two hosts), and how to open a third."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    if request.param == "postgresql":
        db = request.getfixturevalue("pg_server").create_database()
    else:
        db = f"sqlite:///{tmp_path}/shared.db"

    async def another() -> Service:
        return await make_service(config(zendesk, freshdesk), db=db)

    return await another(), await another(), another


async def test_a_zendesk_replay_is_refused_by_another_process_and_after_a_restart(
        two_services: tuple[Service, Service, Callable[[], Any]], zendesk: FakeZendesk) -> None:
    first, second, another = two_services
    url = "/v1/inbound/zendesk/zendesk"
    async with serving(first) as one, serving(second) as two:
        case_id = await ticketed_case(first, one, "shop.example.com")
        body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": str(zendesk.tickets[0]["id"]),
                                                         "status": "solved", "agent": "Léa"})
        r = await one.post(url, content=body, headers=headers)
        assert r.status_code == 200 and r.json()["outcome"] == "done"
        # An agent reopens the case; the captured request is then sent to the other process.
        assert (await two.post(f"/v1/cases/{case_id}/reopen", headers=ADMIN_HEADERS)).status_code == 200
        replay = await two.post(url, content=body, headers=headers)
        assert replay.status_code == 401 and "replay" in replay.json()["error"]
        assert (await case(two, case_id))["status"] == "reopened"
    await first.close()
    async with serving(await another()) as restarted:  # a process started after the request
        replay = await restarted.post(url, content=body, headers=headers)
        assert replay.status_code == 401 and "replay" in replay.json()["error"]
        state = await case(restarted, case_id)
    assert state["status"] == "reopened"
    assert [a["action"] for a in state["actions"]] == ["resolve", "reopen"]


async def test_two_processes_given_the_same_zendesk_request_at_once_act_once(
        two_services: tuple[Service, Service, Callable[[], Any]], zendesk: FakeZendesk) -> None:
    first, second, _ = two_services
    url = "/v1/inbound/zendesk/zendesk"
    async with serving(first) as one, serving(second) as two:
        case_id = await ticketed_case(first, one, "shop.example.com")
        body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": str(zendesk.tickets[0]["id"]),
                                                         "status": "solved", "agent": "Léa"})
        answers = await asyncio.gather(*(c.post(url, content=body, headers=headers) for c in (one, two, one, two)))
        assert sorted(r.status_code for r in answers) == [200, 401, 401, 401]
        assert [a["action"] for a in (await case(one, case_id))["actions"]] == ["resolve"]


async def test_a_freshdesk_resolution_sent_again_after_a_reopen_changes_nothing_on_any_process(
        two_services: tuple[Service, Service, Callable[[], Any]], freshdesk: FakeFreshdesk) -> None:
    first, second, _ = two_services
    url = "/v1/inbound/freshdesk/freshdesk"
    async with serving(first) as one, serving(second) as two:
        case_id = await ticketed_case(first, one, "blog.example.com")
        ticket = freshdesk.tickets[0]["id"]
        resolved, headers = freshdesk_webhook({"ticket_id": ticket, "status": "Resolved", "agent": "Tom"},
                                              secret=FRESHDESK_SECRET)
        assert (await one.post(url, content=resolved, headers=headers)).json()["outcome"] == "done"
        # The visitor writes again: the case is reopened in notifier, the ticket stays resolved in
        # Freshdesk. The captured "Resolved" sent again, to either process, leaves the case open.
        assert (await one.post(f"/v1/cases/{case_id}/reopen", headers=ADMIN_HEADERS)).status_code == 200
        for api in (two, one):
            r = await api.post(url, content=resolved, headers=headers)
            assert r.status_code == 200 and r.json()["outcome"] == "ignored", r.text
            assert "already reported resolved" in r.json()["reason"]
        assert (await case(two, case_id))["status"] == "reopened"
        # Freshdesk closing the resolved ticket later (its own rule) is no news either.
        closed, headers = freshdesk_webhook({"ticket_id": ticket, "status": "Closed"}, secret=FRESHDESK_SECRET)
        assert (await two.post(url, content=closed, headers=headers)).json()["outcome"] == "ignored"
        assert (await case(one, case_id))["status"] == "reopened"
        # A real agent reopens the ticket in Freshdesk (the rule reports it) and resolves it
        # again with the very same words: heard, on whichever process it lands.
        reopened, headers = freshdesk_webhook({"ticket_id": ticket, "status": "Open", "agent": "Tom"},
                                              secret=FRESHDESK_SECRET)
        assert (await two.post(url, content=reopened, headers=headers)).json()["outcome"] == "ignored"
        r = await one.post(url, content=resolved, headers=headers)
        assert r.status_code == 200 and r.json()["outcome"] == "done", r.text
        state = await case(two, case_id)
    assert (state["status"], state["resolved_by"]) == ("resolved", "Tom")
    assert [a["action"] for a in state["actions"]] == ["resolve", "reopen", "resolve"]


# ------------------------------------------------------------------ serve --api-processes 2
def _call(port: int, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[str, int, dict[str, Any]]:
    """POST ``body`` (GET without one) on a fresh connection: which process answered (only
    ``serve`` runs the worker), and its answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.connect()
        conn.auto_open = 0  # never reconnect behind our back: a new connection may reach the other process
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        process = "serve" if health["worker"]["in_this_process"] else "other"
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return process, r.status, json.loads(r.read())
    finally:
        conn.close()


@pytest.mark.slow
def test_a_zendesk_replay_to_the_other_api_process_of_serve_is_refused(
        tmp_path: Path, zendesk: FakeZendesk, freshdesk: FakeFreshdesk) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(config(zendesk, freshdesk), encoding="utf-8")
    port, log = free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_API_TOKEN"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--api-processes", "2", "--workers", "1",
             "--config", str(path), "--db", f"sqlite:///{tmp_path / 'notifier.db'}",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        event = json.dumps({"kind": "support_request", "site": "shop.example.com", "conversation_id": "c1",
                            "message": "Un humain svp", "user": {"email": "ana@example.com", "consent": True}})
        api = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
        while True:  # until an API process answers
            with contextlib.suppress(OSError, http.client.HTTPException):
                _, status, answer = _call(port, "/v1/events", event.encode(), api)
                break
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        assert status in (200, 202), answer
        case_id = answer["case"]["id"]
        while not zendesk.tickets:  # serve's worker opens the ticket
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        # Until the ticket's delivery is recorded as sent, the webhook finds no case yet.
        body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": str(zendesk.tickets[0]["id"]),
                                                         "status": "solved", "agent": "Léa"})
        while True:
            _, status, answer = _call(port, "/v1/inbound/zendesk/zendesk", body, headers)
            if answer.get("outcome") != "ignored":
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.05)
        assert status == 200 and answer["outcome"] == "done", answer
        seen: set[str] = set()
        while seen != {"serve", "other"}:  # the captured request sent to each process
            process, status, answer = _call(port, "/v1/inbound/zendesk/zendesk", body, headers)
            assert status == 401 and "replay" in answer["error"], (process, answer)
            seen.add(process)
            assert time.monotonic() < deadline, f"the kernel never gave a connection to both: {seen}"
        _, status, state = _call(port, f"/v1/cases/{case_id}", None, {"Authorization": f"Bearer {ADMIN}"})
        assert [a["action"] for a in state["actions"]] == ["resolve"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
