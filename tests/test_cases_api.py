"""Cases through the HTTP API, as a chatbot and a support team meet them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

FRIDAY_EVENING = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # 19:00 in Paris
READER = "ntf_cases-reader-0123456789"
ADMIN = "ntf_cases-admin-0123456789"
OTHER = "ntf_cases-other-site-0123456789"


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def cases_config(url: str, extra_top: str = "") -> str:
    text = webhook_config(url, routes="""
      - name: handoff
        match: {kinds: [support_request, contact_request, tool_call]}
        to: [hook]
        response_target: 2h
      - name: keywords
        match: {kinds: [message], keywords: [urgent], role: user}
        to: [hook]
        response_target: 30m
    """)
    return text + extra_top


def ev(**kw: Any) -> dict[str, Any]:
    return {"kind": "support_request", "site": "shop", "conversation_id": "c1", "message": "Un humain svp",
            "user": {"email": "a@b.c", "consent": True}, **kw}


@pytest.fixture
def clock() -> Clock:
    return Clock(FRIDAY_EVENING)


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    return await make_service(cases_config(sink.url), clock=clock)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_a_request_answers_with_its_case_and_when_to_expect_an_answer(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", json=ev(id="e1"))
    assert r.status_code == 202
    body = r.json()
    assert body["deliveries"][0]["channel"] == "hook"  # the existing answer is kept
    case = body["case"]
    assert case["status"] == "open"
    # Friday 19:00 in Paris, 2h of 09:00-18:00 Mon-Fri: Monday 11:00 Paris.
    assert case["expected_response_at"] == "2026-03-09T10:00:00+00:00"
    assert case["message_for_user"] == (
        "Nous avons bien reçu votre demande. Un membre de l'équipe vous répondra d'ici lundi 11:00.")
    # The next request of the conversation joins the case; the same event again finds it too.
    again = (await client.post("/v1/events", json=ev(id="e2", locale="en"))).json()["case"]
    assert again["id"] == case["id"]
    assert again["message_for_user"] == (
        "We have received your request. A member of the team will answer by Monday 11:00.")
    assert (await client.post("/v1/events", json=ev(id="e1"))).json()["case"]["id"] == case["id"]
    # In a batch, each event says its case; another conversation gets another case.
    batch = (await client.post("/v1/events", json=[ev(id="e3", conversation_id="c2"),
                                                   ev(id="e4", kind="message", role="user", message="merci")]
                               )).json()["events"]
    assert batch[0]["case"]["id"] != case["id"] and "case" not in batch[1]
    # Two requests of one new conversation in one batch share one new case.
    pair = (await client.post("/v1/events", json=[ev(id="e5", conversation_id="c5"),
                                                  ev(id="e6", conversation_id="c5")])).json()["events"]
    assert pair[0]["case"]["id"] == pair[1]["case"]["id"]
    detail = (await client.get(f"/v1/cases/{pair[0]['case']['id']}")).json()
    assert [e["id"] for e in detail["events"]] == ["e5", "e6"]


async def test_a_keyword_alert_opens_a_case_with_its_route_target(client: httpx.AsyncClient, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Paris
    r = await client.post("/v1/events", json=ev(kind="message", role="user", message="c'est urgent",
                                                 conversation_id="c9"))
    assert r.json()["case"]["expected_response_at"] == "2026-03-04T09:30:00+00:00"
    assert "aujourd'hui 10:30" in r.json()["case"]["message_for_user"]


async def test_agents_claim_and_resolve_and_the_user_writing_again_reopens(
        client: httpx.AsyncClient, clock: Clock) -> None:
    case_id = (await client.post("/v1/events", json=ev(id="e1"))).json()["case"]["id"]
    clock.now += timedelta(minutes=5)
    r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": "marie"})
    assert r.status_code == 200 and r.json()["outcome"] == "done"
    assert r.json()["case"]["claimed_by"] == "marie"
    # Idempotent for the holder, refused for anyone else, who is told who has it.
    assert (await client.post(f"/v1/cases/{case_id}/claim", json={"by": "marie"})).json()["outcome"] == "unchanged"
    r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": "paul"})
    assert r.status_code == 409 and r.json()["holder"] == "marie" and "marie" in r.json()["error"]
    # The chatbot now tells the user someone is on it.
    joined = (await client.post("/v1/events", json=ev(id="e2"))).json()["case"]
    assert joined["status"] == "claimed" and "s'occupe" in joined["message_for_user"]
    clock.now += timedelta(minutes=10)
    r = await client.post(f"/v1/cases/{case_id}/resolve", json={"by": "marie", "note": "rappelée"})
    assert r.json()["case"]["status"] == "resolved" and r.json()["case"]["note"] == "rappelée"
    detail = (await client.get(f"/v1/cases/{case_id}")).json()
    assert [e["id"] for e in detail["events"]] == ["e1", "e2"]
    assert {d["event_id"] for d in detail["deliveries"]} == {"e1", "e2"}
    assert [(a["action"], a["actor"], a["via"], a["outcome"]) for a in detail["actions"]] == [
        ("claim", "marie", "api", "done"), ("claim", "marie", "api", "unchanged"),
        ("claim", "paul", "api", "refused"), ("resolve", "marie", "api", "done")]
    assert detail["timings"]["to_claim"]["seconds"] == 300
    assert detail["timings"]["to_resolve"]["seconds"] == 900
    assert detail["timings"]["to_claim"]["business_seconds"] == 0  # Friday evening: the office is closed
    listed = (await client.get("/v1/cases", params={"status": "resolved"})).json()["cases"]
    assert [c["id"] for c in listed] == [case_id]
    # The user writes again in the conversation: the case is back, for someone to take.
    await client.post("/v1/events", json=ev(id="e3", kind="message", role="user", message="toujours rien"))
    back = (await client.get(f"/v1/cases/{case_id}")).json()
    assert back["status"] == "reopened" and back["round"] == 2 and back["claimed_by"] is None
    assert (await client.post(f"/v1/cases/{case_id}/claim", json={"by": "paul"})).status_code == 200


async def test_bad_requests_change_nothing(client: httpx.AsyncClient) -> None:
    case_id = (await client.post("/v1/events", json=ev(id="e1"))).json()["case"]["id"]
    assert (await client.get("/v1/cases/nope")).status_code == 404
    assert (await client.post("/v1/cases/nope/claim", json={"by": "marie"})).status_code == 404
    assert (await client.post(f"/v1/cases/{case_id}/delete", json={"by": "marie"})).status_code == 404
    r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": "marie", "when": "now"})
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "when"
    r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": "ma\nrie"})
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "by"
    r = await client.post(f"/v1/cases/{case_id}/claim")
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "by"
    # Not JSON at all: 400, as /v1/events answers, saying what to send.
    r = await client.post(f"/v1/cases/{case_id}/claim", content=b"by=marie",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid JSON: expected value at line 1 column 1; send a JSON object")
    assert (await client.get("/v1/cases", params={"status": "lost"})).status_code == 422
    detail = (await client.get(f"/v1/cases/{case_id}")).json()
    assert detail["status"] == "open" and detail["actions"] == []


async def test_reading_needs_read_and_acting_needs_admin(make_service: ServiceFactory, sink: Sink,
                                                         clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service = await make_service(cases_config(sink.url, f"""auth:
  tokens:
    - {{name: reader, secret: "{hash_token(READER)}", scopes: [read]}}
    - {{name: marie, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
    - {{name: other-site, secret: "{hash_token(OTHER)}", scopes: [admin], sites: [other.example]}}
"""), clock=clock)
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        admin, reader = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {READER}"}
        case_id = (await c.post("/v1/events", json=ev(id="e1"), headers=admin)).json()["case"]["id"]
        assert (await c.get(f"/v1/cases/{case_id}", headers=reader)).status_code == 200
        assert (await c.post(f"/v1/cases/{case_id}/claim", headers=reader)).status_code == 403
        assert (await c.get("/v1/cases")).status_code == 401
        # A token bound to another site neither sees nor touches this site's cases.
        other = {"Authorization": f"Bearer {OTHER}"}
        assert (await c.get(f"/v1/cases/{case_id}", headers=other)).status_code == 404
        assert (await c.get("/v1/cases", headers=other)).json()["cases"] == []
        assert (await c.post(f"/v1/cases/{case_id}/claim", headers=other)).status_code == 404
        # With a token, the actor defaults to the token's name.
        r = await c.post(f"/v1/cases/{case_id}/claim", headers=admin)
        assert r.status_code == 200 and r.json()["case"]["claimed_by"] == "marie"


async def test_an_oversized_action_body_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    case_id = (await client.post("/v1/events", json=ev(id="e1"))).json()["case"]["id"]
    # A note far over its 2,000 characters, as a visitor's script might send.
    r = await client.post(f"/v1/cases/{case_id}/claim", content=b'{"by": "marie", "note": "' + b"x" * 200_000 + b'"}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "16384 bytes" in r.json()["error"]

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: refused once past the limit
        for _ in range(1_000):
            yield b"x" * 1024

    r = await client.post(f"/v1/cases/{case_id}/claim", content=endless(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    detail = (await client.get(f"/v1/cases/{case_id}")).json()
    assert detail["status"] == "open" and detail["actions"] == []
    r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": "marie", "note": "je prends"})
    assert r.status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_site_s_token_lists_its_cases_however_busy_the_other_sites_are(
        make_service: ServiceFactory, sink: Sink, clock: Clock, monkeypatch: pytest.MonkeyPatch, backend: str,
        request: pytest.FixtureRequest) -> None:
    # The list is cut at `limit` after the site filter, not before: three newer cases of
    # another site must not hide the one case the shop's agent may see.
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service = await make_service(cases_config(sink.url, f"""auth:
  tokens:
    - {{name: admin, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
    - {{name: shop-reader, secret: "{hash_token(READER)}", scopes: [read], sites: [shop]}}
"""), clock=clock, db=request.getfixturevalue("pg_server").create_database() if backend == "postgresql" else None)
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        admin, reader = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {READER}"}
        ours = (await c.post("/v1/events", json=ev(id="e0"), headers=admin)).json()["case"]["id"]
        for i in range(3):
            clock.now += timedelta(minutes=1)
            await c.post("/v1/events", json=ev(id=f"o{i}", site="other", conversation_id=f"o{i}"), headers=admin)
        listed = (await c.get("/v1/cases", params={"limit": 2}, headers=reader)).json()["cases"]
        assert [x["id"] for x in listed] == [ours]
        assert (await c.get("/v1/cases", params={"site": "other"}, headers=reader)).json()["cases"] == []
