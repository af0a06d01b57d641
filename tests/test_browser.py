"""What a browser meets: /docs that work offline, CORS for allowed sites, a clear word on form bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.config import ConfigError, parse_config
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

SHOP = "https://shop.example.com"
PAGE_TOKEN = "ntf_page-token-for-shop-0123456789"      # site-bound, events:write only
SERVER_TOKEN = "ntf_server-token-all-sites-0123456789"  # events:write, every site
ADMIN = "ntf_admin-token-0123456789abcdef"


def event(**kw: Any) -> dict[str, Any]:
    return {"kind": "contact_request", "site": "shop.example.com", "message": "Rappelez-moi",
            "user": {"name": "Marie", "email": "marie@example.com", "consent": True}, **kw}


async def client_for(service: Service) -> httpx.AsyncClient:
    app = create_app(service, manage=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier.test")


@pytest.fixture
async def open_client(make_service: ServiceFactory, sink: Sink,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    async with await client_for(await make_service(webhook_config(sink.url))) as c:
        yield c


@pytest.fixture
async def cors_client(make_service: ServiceFactory, sink: Sink,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    config = webhook_config(sink.url) + f"""auth:
  tokens:
    - {{name: shop-page, secret: "{hash_token(PAGE_TOKEN)}", scopes: [events:write], sites: [shop.example.com]}}
    - {{name: shop-server, secret: "{hash_token(SERVER_TOKEN)}", scopes: [events:write]}}
    - {{name: ops, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
cors:
  origins: [{SHOP}]
"""
    async with await client_for(await make_service(config)) as c:
        yield c


# --------------------------------------------------------------------------- /docs offline


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


async def test_docs_reference_only_this_server(open_client: httpx.AsyncClient) -> None:
    r = await open_client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    links = _Links()
    links.feed(r.text)
    assert links.urls, "the page loads its scripts and styles"
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this server"
        asset = await open_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    # Inline script: the spec comes from here, and no outside validator is asked.
    assert re.search(r"url: '/openapi.json'", r.text)
    assert '"validatorUrl": null' in r.text
    assert not re.search(r"https?://", r.text), "no absolute URL on the page"
    spec = (await open_client.get("/openapi.json")).json()
    assert "/v1/events" in spec["paths"]


async def test_docs_serve_only_the_files_they_need(open_client: httpx.AsyncClient) -> None:
    assert (await open_client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
    assert (await open_client.get("/docs/assets/..%2F__init__.py")).status_code == 404
    assert (await open_client.get("/docs/assets/index.html")).status_code == 404
    assert (await open_client.get("/redoc")).status_code == 404  # ReDoc would load from a CDN


# --------------------------------------------------------------------------- form bodies


async def test_a_form_body_is_told_to_send_json_and_logged(open_client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        r = await open_client.post("/v1/events", data={"kind": "contact_request", "site": "shop.example.com"})
    assert r.status_code == 415
    assert "send JSON (Content-Type: application/json)" in r.json()["error"]
    assert any(e["event"] == "event refused: form-encoded body" and e["log_level"] == "warning"
               for e in logs)


async def test_invalid_json_is_logged_too(open_client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        r = await open_client.post("/v1/events", content=b'{"kind": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]
    assert any(e["event"] == "event refused: invalid JSON" for e in logs)


# --------------------------------------------------------------------------- CORS


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}


async def test_without_cors_no_page_may_post(open_client: httpx.AsyncClient) -> None:
    r = await open_client.options("/v1/events", headers=preflight(SHOP))
    assert "access-control-allow-origin" not in r.headers


async def test_an_allowed_page_posts_with_its_site_bound_write_only_token(cors_client: httpx.AsyncClient) -> None:
    r = await cors_client.options("/v1/events", headers=preflight(SHOP))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = await cors_client.post("/v1/events", json=event(),
                               headers={"Origin": SHOP, "Authorization": f"Bearer {PAGE_TOKEN}"})
    assert r.status_code == 202, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    # An error is readable by the page too (here: another site than the token's).
    r = await cors_client.post("/v1/events", json=event(site="other.example.com"),
                               headers={"Origin": SHOP, "Authorization": f"Bearer {PAGE_TOKEN}"})
    assert r.status_code == 403 and r.headers["access-control-allow-origin"] == SHOP


async def test_other_origins_and_other_paths_get_no_cors(cors_client: httpx.AsyncClient) -> None:
    r = await cors_client.options("/v1/events", headers=preflight("https://evil.example.net"))
    assert "access-control-allow-origin" not in r.headers
    r = await cors_client.get("/v1/deliveries", headers={"Origin": SHOP, "Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("token", [SERVER_TOKEN, ADMIN])
async def test_a_token_that_must_stay_on_a_server_is_refused_from_a_page(cors_client: httpx.AsyncClient,
                                                                         token: str) -> None:
    r = await cors_client.post("/v1/events", json=event(), headers={"Origin": SHOP, "Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert "may not be used from a web page" in r.json()["error"]
    assert r.headers["access-control-allow-origin"] == SHOP
    # The same token from the site's server (no Origin) is fine.
    r = await cors_client.post("/v1/events", json=event(), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202


@pytest.mark.parametrize("origin", ["*", "https://shop.example.com/", "shop.example.com", "https://*.example.com"])
def test_origins_are_exact(origin: str) -> None:
    with pytest.raises(ConfigError, match="invalid origin"):
        parse_config(f"version: 1\ncors:\n  origins: ['{origin}']\n", env={})
