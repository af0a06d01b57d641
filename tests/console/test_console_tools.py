"""The console's tools over HTTP: the route tester, the configuration, the digest preview, health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from notifier.api import create_app
from notifier.service import Service
from tests.conftest import ServiceFactory
from tests.console.helpers import MONDAY_MORNING, READER, Clock, console_config, csrf_of, log_in, request_event
from tests.sink import Sink

EXTRA = ('  slack: {type: slack, token: "xoxb-console-secret-token", channel: "#support"}\n'
         '  teams: {type: teams, url: "https://example.com/workflows/secret-path"}\n')


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    text = console_config(sink.url, extra=EXTRA).replace("to: [hook]", "to: [hook, slack, teams]")
    return await make_service(text, clock=Clock(MONDAY_MORNING))


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as c:
        yield c


async def test_the_route_tester_shows_matches_and_draws_what_each_channel_gets(client: httpx.AsyncClient) -> None:
    await log_in(client, READER)  # trying a route changes nothing: a reader may
    page = await client.get("/console/routes")
    assert "support_request" in page.text  # a sample event to edit
    event = request_event(message="<script>alert(1)</script> remboursement svp")
    r = await client.post("/console/routes", data={"csrf": csrf_of(page.text), "event": json.dumps(event)})
    assert r.status_code == 200
    html = r.text
    assert "✔ <b>handoff</b> matches" in html and "kind support_request is listed" in html
    for channel in ("hook", "slack", "teams"):
        assert f'id="preview-{channel}"' in html
    slack = html[html.index('id="preview-slack"'):html.index('id="preview-teams"')]
    assert 'class="block title"' in slack  # the header block drawn
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in slack
    assert "xoxb-console-secret-token" not in html and "secret-path" not in html  # no secret shown
    teams = html[html.index('id="preview-teams"'):]
    assert "<b>Site: </b>shop.example" in teams


async def test_the_route_tester_names_the_field_of_an_invalid_event(client: httpx.AsyncClient) -> None:
    await log_in(client, READER)
    page = await client.get("/console/routes")
    r = await client.post("/console/routes", data={"csrf": csrf_of(page.text),
                                                   "event": json.dumps({"kind": "nope", "site": "s"})})
    assert r.status_code == 422 and "<code>kind</code>" in r.text
    r = await client.post("/console/routes", data={"csrf": csrf_of(page.text), "event": "{not json"})
    assert r.status_code == 422 and "invalid JSON" in r.text
    assert (await client.post("/console/routes", data={"event": "{}"})).status_code == 403  # no CSRF token
