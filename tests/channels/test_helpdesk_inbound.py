"""A ticket solved in Zendesk or resolved in Freshdesk resolves its case; forged or replayed calls change nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.service import Service
from tests.channels.fakes import FakeFreshdesk, FakeZendesk, freshdesk_webhook, zendesk_webhook
from tests.conftest import ServiceFactory
from tests.console.helpers import serving
from tests.pgserver import PgServer

ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
FRESHDESK_SECRET = "fd-webhook-shared-secret-0123456789"
ADMIN = "ntf_inbound-admin-0123456789"


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def freshdesk() -> Iterator[FakeFreshdesk]:
    with FakeFreshdesk() as server:
        yield server  # type: ignore[misc]


def config(zendesk: FakeZendesk, freshdesk: FakeFreshdesk) -> str:
    return f"""version: 1
defaults: {{admin_email: admin@example.com, retry: {{attempts: 2, backoff: 50ms}}}}
channels:
  zendesk:
    type: zendesk
    subdomain: acme
    email: {zendesk.email}
    api_token: {zendesk.api_token}
    base_url: {zendesk.url}
    webhook_secret: "{ZENDESK_SECRET}"
  zendesk-quiet: {{type: zendesk, subdomain: acme, email: {zendesk.email}, api_token: t, base_url: {zendesk.url}}}
  freshdesk:
    type: freshdesk
    domain: acme
    api_key: {freshdesk.api_key}
    base_url: {freshdesk.url}
    webhook_secret: {FRESHDESK_SECRET}
routes:
  - name: shop
    match: {{kinds: [support_request], site: shop.example.com}}
    to: [zendesk]
  - name: blog
    match: {{kinds: [support_request], site: blog.example.com}}
    to: [freshdesk]
auth:
  tokens:
    - {{name: admin, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""


@pytest.fixture
async def service(make_service: ServiceFactory, zendesk: FakeZendesk, freshdesk: FakeFreshdesk,
                  monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    return await make_service(config(zendesk, freshdesk))


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


async def ticketed_case(service: Service, client: httpx.AsyncClient, site: str) -> str:
    """A support request whose case became a helpdesk ticket (the worker sent it)."""
    r = await client.post("/v1/events", headers=ADMIN_HEADERS, json={
        "kind": "support_request", "site": site, "conversation_id": "c1", "message": "Un humain svp",
        "user": {"email": "ana@example.com", "consent": True}})
    assert service.worker is not None
    assert (await service.worker.drain()).sent == 1
    return str(r.json()["case"]["id"])


async def case(client: httpx.AsyncClient, case_id: str) -> dict[str, Any]:
    return dict((await client.get(f"/v1/cases/{case_id}", headers=ADMIN_HEADERS)).json())


async def test_a_solved_zendesk_ticket_resolves_its_case_once(service: Service, client: httpx.AsyncClient,
                                                               zendesk: FakeZendesk) -> None:
    case_id = await ticketed_case(service, client, "shop.example.com")
    ticket = str(zendesk.tickets[0]["id"])
    url = "/v1/inbound/zendesk/zendesk"
    # Zendesk's trigger placeholders print the status's name; another status changes nothing.
    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": ticket, "status": "Pending", "agent": "Léa"})
    r = await client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert (await case(client, case_id))["status"] == "open"

    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": int(ticket), "status": "Solved", "agent": "Léa"})
    r = await client.post(url, content=body, headers=headers)  # no API token: the signature is the credential
    assert r.status_code == 200 and r.json()["outcome"] == "done"
    resolved = await case(client, case_id)
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "Léa")
    assert [(a["action"], a["actor"], a["via"]) for a in resolved["actions"]] == [("resolve", "Léa", "zendesk")]

    # The very same signed request again is a replay.
    replay = await client.post(url, content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    assert len((await case(client, case_id))["actions"]) == 1


async def test_forged_zendesk_calls_are_refused(service: Service, client: httpx.AsyncClient,
                                                zendesk: FakeZendesk) -> None:
    case_id = await ticketed_case(service, client, "shop.example.com")
    payload = {"ticket_id": str(zendesk.tickets[0]["id"]), "status": "solved"}
    for forgery in ("wrong secret", "body changed", "stale", "future", "no signature", "not base64"):
        secret = "another-secret" if forgery == "wrong secret" else ZENDESK_SECRET
        when = {"stale": time.time() - 600, "future": time.time() + 600}.get(forgery)
        body, headers = zendesk_webhook(secret, payload, when)
        if forgery == "body changed":
            body = body.replace(b"solved", b"closed")
        if forgery == "no signature":
            del headers["X-Zendesk-Webhook-Signature"]
        if forgery == "not base64":
            headers["X-Zendesk-Webhook-Signature"] = "%%%"
        r = await client.post("/v1/inbound/zendesk/zendesk", content=body, headers=headers)
        assert r.status_code == 401, forgery
    state = await case(client, case_id)
    assert state["status"] == "open" and state["actions"] == []


async def test_tickets_and_channels_that_are_not_ours(service: Service, client: httpx.AsyncClient) -> None:
    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": "999", "status": "solved"})
    r = await client.post("/v1/inbound/zendesk/zendesk", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored" and "999" in r.json()["reason"]
    # A channel without a secret, of another type, or unknown: no such endpoint.
    for path in ("/v1/inbound/zendesk/zendesk-quiet", "/v1/inbound/freshdesk/zendesk", "/v1/inbound/zendesk/nope"):
        body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": "1", "status": "solved"})
        assert (await client.post(path, content=body, headers=headers)).status_code == 404
    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": "1 OR 1=1", "status": "solved"})
    r = await client.post("/v1/inbound/zendesk/zendesk", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "ticket_id"


async def test_a_resolved_freshdesk_ticket_resolves_its_case(service: Service, client: httpx.AsyncClient,
                                                             freshdesk: FakeFreshdesk) -> None:
    case_id = await ticketed_case(service, client, "blog.example.com")
    ticket = freshdesk.tickets[0]["id"]
    url = "/v1/inbound/freshdesk/freshdesk"
    for wrong in ({}, {"secret": "guess"}, {"basic": ("notifier", "guess")}):
        body, headers = freshdesk_webhook({"ticket_id": ticket, "status": "Resolved"}, **wrong)  # type: ignore[arg-type]
        assert (await client.post(url, content=body, headers=headers)).status_code == 401
    assert (await case(client, case_id))["actions"] == []
    # Freshdesk's basic authentication carrying the secret as its password works as well as the header.
    body, headers = freshdesk_webhook({"ticket_id": ticket, "status": "Resolved", "agent": "Tom"},
                                      basic=("notifier", FRESHDESK_SECRET))
    r = await client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "done"
    state = await case(client, case_id)
    assert (state["status"], state["resolved_by"], state["actions"][0]["via"]) == ("resolved", "Tom", "freshdesk")
    # Freshdesk has no signature to tell a replay: a second report of the ticket done (Freshdesk
    # closing it, or a captured request sent again) changes nothing, and says why.
    body, headers = freshdesk_webhook({"ticket_id": ticket, "status": 5}, secret=FRESHDESK_SECRET)
    r = await client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored" and "already reported" in r.json()["reason"]
    assert (await case(client, case_id))["resolved_by"] == "Tom"


async def test_the_ticket_finds_its_case_on_postgresql(make_service: ServiceFactory, pg_server: PgServer,
                                                       zendesk: FakeZendesk, freshdesk: FakeFreshdesk,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service = await make_service(config(zendesk, freshdesk), db=pg_server.create_database())
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        case_id = await ticketed_case(service, client, "shop.example.com")
        body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": str(zendesk.tickets[0]["id"]),
                                                         "status": "closed", "agent": "Léa"})
        r = await client.post("/v1/inbound/zendesk/zendesk", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["outcome"] == "done"
        assert (await case(client, case_id))["resolved_by"] == "Léa"


@pytest.fixture
async def served(service: Service) -> AsyncIterator[str]:
    """The API on a loopback port (uvicorn): what a helpdesk, or anyone on the internet, reaches."""
    async with serving(service) as base:
        yield base


async def test_a_timestamp_of_unicode_digits_is_refused_not_a_crash(served: str) -> None:
    # Headers are read as latin-1: the byte 0xB2 is '²', which str.isdigit() takes for a digit
    # and float() does not. Anyone on the internet can send it, before any signature is checked.
    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": "1", "status": "solved"})
    async with httpx.AsyncClient(base_url=served) as raw:
        for stamp in (b"\xb2", b"1\xb9\xb2", b"\xbd"):
            sent = {**headers, "X-Zendesk-Webhook-Signature-Timestamp": stamp}
            r = await raw.post("/v1/inbound/zendesk/zendesk", content=body, headers=sent)  # type: ignore[arg-type]
            assert r.status_code == 401, (stamp, r.text)
            assert "timestamp" in r.json()["error"]


async def test_a_replay_with_the_signature_spelled_otherwise_is_still_a_replay(
        service: Service, served: str, zendesk: FakeZendesk) -> None:
    async with httpx.AsyncClient(base_url=served, headers=ADMIN_HEADERS) as api:
        case_id = await ticketed_case(service, api, "shop.example.com")
    body, headers = zendesk_webhook(ZENDESK_SECRET, {"ticket_id": str(zendesk.tickets[0]["id"]), "status": "solved",
                                                     "agent": "Léa"})
    signature = headers["X-Zendesk-Webhook-Signature"]
    # A 32-byte HMAC is 43 base64 characters and '=': the last one carries two spare bits that
    # decoders ignore, so one captured signature has four spellings of the same bytes.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(signature[-2])
    respelled = [signature[:-2] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last ^ bit] + "="
                 for bit in (1, 2, 3)]
    async with httpx.AsyncClient(base_url=served) as hook:
        first = await hook.post("/v1/inbound/zendesk/zendesk", content=body, headers=headers)
        assert first.status_code == 200 and first.json()["outcome"] == "done"
        async with httpx.AsyncClient(base_url=served, headers=ADMIN_HEADERS) as api:  # an agent reopens the case
            assert (await api.post(f"/v1/cases/{case_id}/reopen")).status_code == 200
        for other in respelled:
            r = await hook.post("/v1/inbound/zendesk/zendesk", content=body,
                                headers={**headers, "X-Zendesk-Webhook-Signature": other})
            assert r.status_code == 401 and "replay" in r.json()["error"], other
    async with httpx.AsyncClient(base_url=served, headers=ADMIN_HEADERS) as api:
        assert (await case(api, case_id))["status"] == "reopened"  # as the agent left it
