"""The console over HTTP: login, sessions, CSRF, scopes, the queue, languages, hostile text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.console.session import Sessions
from notifier.service import Service
from notifier.store.cases import CaseStore
from tests.conftest import ServiceFactory
from tests.console.helpers import ADMIN, MONDAY_MORNING, READER, Clock, console_config, csrf_of, log_in, request_event
from tests.sink import Sink


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_MORNING)


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    return await make_service(console_config(sink.url), clock=clock)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as c:
        yield c


async def post_event(client: httpx.AsyncClient, **kw: object) -> str:
    r = await client.post("/v1/events", json=request_event(**kw), headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 202, r.text
    return str(r.json()["case"]["id"])


async def test_a_token_is_exchanged_for_a_session_cookie_and_logout_ends_it(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/", headers={"Accept-Language": "en"})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    wrong = await log_in(client, "ntf_not-a-token")
    assert wrong.status_code == 401 and "Wrong or unknown token" in wrong.text
    r = await log_in(client, ADMIN)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/console" in cookie and "Max-Age=28800" in cookie
    assert ADMIN not in cookie  # the token itself never travels back
    page = await client.get("/console/", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "marie" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    out = await client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await client.get("/console/")).status_code == 303  # back to the login page


async def test_a_form_without_its_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    case_id = await post_event(client)
    await log_in(client, ADMIN)
    for data in ({}, {"csrf": "0" * 64}):
        r = await client.post(f"/console/cases/{case_id}/claim", data=data)
        assert r.status_code == 403
        assert (await client.post("/console/logout", data=data)).status_code == 403
    # A login form posted from elsewhere (no session, no token of the form) is refused too.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://test") as stranger:
        r = await stranger.post("/console/login", data={"token": ADMIN})
        assert r.status_code == 403
        assert (await stranger.get("/console/")).status_code == 303  # not logged in


async def test_an_oversized_form_is_refused_before_it_is_read_whole(client: httpx.AsyncClient,
                                                                    service: Service) -> None:
    case_id = await post_event(client)
    page = await log_in(client, ADMIN)
    csrf = csrf_of((await client.get("/console/")).text)
    assert page.status_code == 303
    r = await client.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf, "note": "x" * 2_000_000})
    assert r.status_code == 413
    assert (await CaseStore(service.store.connector()).get(case_id)).status == "open"  # type: ignore[union-attr]
    r = await client.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await CaseStore(service.store.connector()).get(case_id)).status == "claimed"  # type: ignore[union-attr]


async def test_a_read_token_sees_the_queue_but_cannot_act(client: httpx.AsyncClient, service: Service) -> None:
    case_id = await post_event(client)
    await log_in(client, READER)
    page = await client.get("/console/", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "shop.example" in page.text
    assert f"/console/cases/{case_id}/claim" not in page.text  # no button
    r = await client.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403 and "admin scope" in r.text
    case = await CaseStore(service.store.connector()).get(case_id)
    assert case is not None and case.status == "open"


async def test_a_chatbot_token_is_told_it_only_posts_events_not_that_it_is_unknown(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    bot = "ntf_console-chatbot-0123456789"
    config = console_config(sink.url) + f'    - {{name: bot, secret: "{hash_token(bot)}", scopes: [events:write]}}\n'
    app = create_app(await make_service(config), manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        for language, words in (("en", "may only post events (events:write)"), ("fr", "ne peut que poster")):
            c.headers["Accept-Language"] = language
            r = await log_in(c, bot)
            assert r.status_code == 403 and words in r.text
            assert "set-cookie" not in r.headers or "Max-Age=28800" not in r.headers["set-cookie"]
            assert (await c.get("/console/")).status_code == 303  # still logged out


async def test_an_admin_claims_and_resolves_from_the_queue(client: httpx.AsyncClient, service: Service) -> None:
    case_id = await post_event(client)
    await log_in(client, ADMIN)
    page = await client.get("/console/?status=active", headers={"Accept-Language": "en"})
    r = await client.post(f"/console/cases/{case_id}/claim",
                          data={"csrf": csrf_of(page.text), "next": "/console/?status=active"})
    assert r.status_code == 303 and r.headers["location"] == "/console/?status=active&done=done"
    cases = CaseStore(service.store.connector())
    case = await cases.get(case_id)
    assert case is not None and case.status == "claimed" and case.claimed_by == "marie"
    history = await cases.history(case_id)
    assert history["actions"][-1]["via"] == "console" and history["actions"][-1]["actor"] == "marie"
    page = await client.get(r.headers["location"], headers={"Accept-Language": "en"})
    assert "claimed by" in page.text and "Done" in page.text
    await client.post(f"/console/cases/{case_id}/resolve", data={"csrf": csrf_of(page.text)})
    case = await cases.get(case_id)
    assert case is not None and case.status == "resolved"


async def test_the_queue_is_newest_first_paginated_and_marks_late_cases(
        client: httpx.AsyncClient, clock: Clock) -> None:
    first = await post_event(client, conversation_id="old")
    clock.now += timedelta(minutes=40)  # past the 30-minute target of the first case
    ids = []
    for i in range(55):
        clock.now += timedelta(seconds=1)
        ids.append(await post_event(client, conversation_id=f"c{i}"))
    await log_in(client, READER)
    page = (await client.get("/console/", headers={"Accept-Language": "en"})).text
    assert "56 cases" in page and "Page 1 of 2" in page
    assert page.index(f"case-{ids[-1]}") < page.index(f"case-{ids[-2]}")  # newest first
    assert first not in page
    page2 = (await client.get("/console/?page=2", headers={"Accept-Language": "en"})).text
    row = page2[page2.index(f'id="case-{first}"'):]
    row = row[:row.index("</tr>")]
    assert 'class="open late"' in row and "40 min / 30 min" in row and "late" in row


async def test_the_console_speaks_french_or_english(client: httpx.AsyncClient) -> None:
    await log_in(client, READER)
    fr = await client.get("/console/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert "File d&#39;attente" in fr.text and '<html lang="fr">' in fr.text
    en = await client.get("/console/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "<h1>Queue</h1>" in en.text
    chosen = await client.get("/console/?lang=en", headers={"Accept-Language": "fr"})
    assert "<h1>Queue</h1>" in chosen.text and "notifier_lang=en" in chosen.headers["set-cookie"]
    again = await client.get("/console/", headers={"Accept-Language": "fr"})  # the setting stays
    assert "<h1>Queue</h1>" in again.text


async def test_what_visitors_typed_is_escaped(client: httpx.AsyncClient) -> None:
    await post_event(client, site='<script>alert(1)</script>', conversation_id="x")
    await log_in(client, READER)
    page = (await client.get("/console/")).text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_a_forged_or_stale_cookie_is_no_session() -> None:
    sessions = Sessions("key-one")
    _, value = sessions.issue(b"\x01" * 32)
    assert sessions.read(value) is not None
    assert Sessions("key-two").read(value) is None  # signed with another key
    altered = ("A" if value[0] != "A" else "B") + value[1:]  # the payload changed, the signature kept
    assert sessions.read(altered) is None
    assert Sessions("key-one", max_age=-1).read(value) is None  # expired


async def test_the_first_load_weighs_under_100_kb_and_asks_no_other_host(client: httpx.AsyncClient) -> None:
    import re

    for i in range(50):  # a full first page of the queue
        await post_event(client, conversation_id=f"w{i}", site="weight.example")
    await log_in(client, ADMIN)  # the heavier page: every row has its buttons
    page = await client.get("/console/")
    assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/console/static/console.css", "/console/static/htmx.min.js",
                              "/console/static/sse.min.js"]
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)  # nothing from another host
    total = len(page.content)
    for url in assets:
        r = await client.get(url)
        assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
        total += len(r.content)
    assert total <= 100 * 1024, f"first load is {total} bytes"
    licence = await client.get("/console/static/LICENSE-htmx.txt")
    assert "Zero-Clause BSD" in licence.text  # the vendored scripts' notice is served with them
