"""Who may do what through the API: scopes, sites, signed bodies, guarded docs and metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from notifier.api import create_app
from notifier.auth import hash_token, sign_body
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Reply, Sink

WRITE_A = "ntf_write-for-site-a-0123456789"
READ_A = "ntf_read-for-site-a-0123456789"
READ_ALL = "ntf_read-everything-0123456789"
ADMIN = "ntf_admin-everything-0123456789"
SIGNED = "ntf_signed-writer-0123456789"
HMAC_SECRET = "hmac-shared-secret-0123456789"


def auth_section(*, metrics_public: bool = False) -> str:
    return f"""auth:
  metrics_public: {str(metrics_public).lower()}
  tokens:
    - {{name: shop-bot, secret: "{hash_token(WRITE_A)}", scopes: [events:write], sites: [a.example]}}
    - {{name: shop-reader, secret: "{hash_token(READ_A)}", scopes: [read], sites: [a.example]}}
    - {{name: reader, secret: "{hash_token(READ_ALL)}", scopes: [read]}}
    - {{name: ops, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
    - {{name: signed-bot, secret: "{hash_token(SIGNED)}", scopes: [events:write], hmac_secret: "{HMAC_SECRET}"}}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ev(site: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "support_request", "site": site, "conversation_id": "c1", "message": "Un humain svp",
            "user": {"email": "a@b.c", "consent": False}, **kw}


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    return await make_service(webhook_config(sink.url) + auth_section())


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_each_scope_does_its_job_only(client: httpx.AsyncClient, service: Service, sink: Sink) -> None:
    sink.reply(Reply(404, b"no such hook"))
    assert (await client.post("/v1/events", json=ev("a.example", id="e1"), headers=bearer(WRITE_A))).status_code == 202
    # the chatbot's token posts, nothing else: it cannot read what it posted
    r = await client.get("/v1/events/e1", headers=bearer(WRITE_A))
    assert r.status_code == 403 and "'read'" in r.json()["error"] and "shop-bot" in r.json()["error"]
    # a reader reads, but cannot post nor replay
    assert (await client.get("/v1/events/e1", headers=bearer(READ_ALL))).status_code == 200
    assert (await client.post("/v1/events", json=ev("a.example"), headers=bearer(READ_ALL))).status_code == 403
    assert service.worker is not None
    await service.worker.drain()
    dead = (await client.get("/v1/deliveries", params={"status": "dead"}, headers=bearer(READ_ALL))).json()
    [delivery] = dead["deliveries"]
    replay = f"/v1/deliveries/{delivery['id']}/replay"
    assert (await client.post(replay, headers=bearer(READ_ALL))).status_code == 403
    assert (await client.post(replay, headers=bearer(WRITE_A))).status_code == 403
    assert (await client.post(replay, headers=bearer(ADMIN))).status_code == 202
    # no token, or a wrong one: 401 with a challenge
    r = await client.get("/v1/events/e1")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/v1/events/e1", headers=bearer(ADMIN + "x"))).status_code == 401


async def test_a_site_token_cannot_post_for_another_site(client: httpx.AsyncClient) -> None:
    batch = [ev("a.example", id="ok-a"), ev("b.example", id="for-b")]
    r = await client.post("/v1/events", json=batch, headers=bearer(WRITE_A))
    assert r.status_code == 403
    [detail] = r.json()["details"]
    assert detail["path"] == "[1].site" and detail["index"] == 1 and "b.example" in detail["message"]
    # nothing of the batch was stored
    assert (await client.get("/v1/events/ok-a", headers=bearer(ADMIN))).status_code == 404
    r = await client.post("/v1/events", json=ev("b.example"), headers=bearer(WRITE_A))
    assert r.status_code == 403 and r.json()["details"][0]["path"] == "site"


async def test_a_site_token_cannot_read_another_sites_events_or_deliveries(client: httpx.AsyncClient,
                                                                           service: Service) -> None:
    for site, eid in (("a.example", "ev-a"), ("b.example", "ev-b")):
        assert (await client.post("/v1/events", json=ev(site, id=eid), headers=bearer(ADMIN))).status_code == 202
    assert (await client.get("/v1/events/ev-a", headers=bearer(READ_A))).status_code == 200
    # another site's event looks like a missing one: personal data stays with its site
    r = await client.get("/v1/events/ev-b", headers=bearer(READ_A))
    assert r.status_code == 404 and "a@b.c" not in r.text
    listed = (await client.get("/v1/deliveries", headers=bearer(READ_A))).json()["deliveries"]
    assert {d["event_id"] for d in listed} == {"ev-a"}
    everything = (await client.get("/v1/deliveries", headers=bearer(READ_ALL))).json()["deliveries"]
    assert {d["event_id"] for d in everything} == {"ev-a", "ev-b"}
    b_delivery = next(d["id"] for d in everything if d["event_id"] == "ev-b")
    assert (await client.get(f"/v1/deliveries/{b_delivery}", headers=bearer(READ_A))).status_code == 404
    assert (await client.get("/v1/deliveries", params={"event_id": "ev-b"},
                             headers=bearer(READ_A))).json()["deliveries"] == []


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json"])
async def test_metrics_and_docs_need_a_token_when_tokens_exist(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(READ_ALL))).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_metrics_public_opens_metrics_only(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url) + auth_section(metrics_public=True))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 200
        assert (await c.get("/openapi.json")).status_code == 401
        assert (await c.get("/v1/deliveries")).status_code == 401


def signed(body: bytes, *, secret: str = HMAC_SECRET, at: float | None = None) -> dict[str, str]:
    ts = int(time.time() if at is None else at)
    return {**bearer(SIGNED), "Content-Type": "application/json",
            "X-Notifier-Timestamp": str(ts), "X-Notifier-Signature": sign_body(secret, ts, body)}


async def test_signed_bodies(client: httpx.AsyncClient) -> None:
    body = orjson.dumps(ev("any.example", id="signed-1"))
    r = await client.post("/v1/events", content=body, headers=signed(body))
    assert r.status_code == 202, r.text
    # unsigned, signed with another secret, a tampered body, a replay after six minutes
    cases = {
        "unsigned": (body, {**bearer(SIGNED), "Content-Type": "application/json"}),
        "wrong secret": (body, signed(body, secret="another-secret-0123456789")),
        "tampered": (body.replace(b"Un humain", b"Un robot!"), signed(body)),
        "replayed": (body, signed(body, at=time.time() - 360)),
        "from the future": (body, signed(body, at=time.time() + 360)),
    }
    for name, (content, headers) in cases.items():
        r = await client.post("/v1/events", content=content, headers=headers)
        assert r.status_code == 401, name
        assert "X-Notifier-" in r.json()["error"], name
    # a rotation: old and new signatures side by side
    ts = int(time.time())
    both = f"{sign_body('old-secret-0123456789', ts, body)}, {sign_body(HMAC_SECRET, ts, body)}"
    r = await client.post("/v1/events", content=body, headers={
        **bearer(SIGNED), "X-Notifier-Timestamp": str(ts), "X-Notifier-Signature": both})
    assert r.status_code == 202 and r.json()["duplicate"] is True


async def test_env_token_is_full_access_beside_config_tokens(make_service: ServiceFactory, sink: Sink,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_API_TOKEN", "env-token-0123456789abcdefgh")
    service = await make_service(webhook_config(sink.url) + auth_section())
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        env = bearer("env-token-0123456789abcdefgh")
        assert (await c.post("/v1/events", json=ev("b.example", id="x"), headers=env)).status_code == 202
        assert (await c.get("/v1/events/x", headers=env)).status_code == 200
        assert (await c.get("/v1/events/x", headers=bearer(READ_ALL))).status_code == 200


async def test_openapi_tells_clients_to_send_a_bearer_token(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json", headers=bearer(READ_ALL))).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {**spec["components"]["securitySchemes"]["bearer"],
                                                               "type": "http", "scheme": "bearer"}
    assert {"bearer": []} in spec["security"]
    assert spec["paths"]["/healthz"]["get"]["security"] == [{}]
