"""A conversation id that several sites have is named with its site, on both backends.

Each site's chatbot numbers its own conversations: ``c-7`` of one site is another person's
``c-7`` on the next. Asked without a site, the request is refused naming the sites to choose
from (an export or an erasure must not take another person's chat along).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

ADMIN = "ntf_sites-admin-0123456789"


@pytest.fixture
async def client(make_service: ServiceFactory, db_url: str, sink: Sink,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service: Service = await make_service(webhook_config(sink.url) + f"""auth:
  tokens:
    - {{name: dpo, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
""", db=db_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service, manage=False)),
                                 base_url="http://test", headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


async def test_a_conversation_on_several_sites_needs_its_site(client: httpx.AsyncClient) -> None:
    for n, site in enumerate(("shop.example", "shop.example", "blog.example", "")):
        r = await client.post("/v1/events", json={
            "id": f"c7-{n}", "kind": "message", "role": "user", "conversation_id": "c-7",
            "message": "bonjour", **({"site": site} if site else {})})
        assert r.status_code == 202, r.text
    for method in ("GET", "DELETE"):
        r = await client.request(method, "/v1/privacy/subjects", params={"conversation": "c-7"})
        assert r.status_code == 422, r.text
        assert "exists on 3 sites" in r.json()["error"]
        assert "blog.example" in r.json()["error"] and "shop.example" in r.json()["error"]
        assert "'' (sent without a site: ?site=)" in r.json()["error"]
    r = await client.get("/v1/privacy/subjects", params={"conversation": "c-7", "site": "shop.example"})
    assert r.status_code == 200, r.text
    assert sorted(e["id"] for e in r.json()["events"]) == ["c7-0", "c7-1"]
    # One site only: nothing to choose, the site need not be named.
    r = await client.post("/v1/events", json={"id": "c8-0", "kind": "message", "role": "user",
                                              "conversation_id": "c-8", "site": "shop.example", "message": "x"})
    assert r.status_code == 202, r.text
    r = await client.get("/v1/privacy/subjects", params={"conversation": "c-8"})
    assert r.status_code == 200 and [e["id"] for e in r.json()["events"]] == ["c8-0"]
