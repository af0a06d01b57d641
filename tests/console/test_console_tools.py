"""The console's tools over HTTP: the route tester, the configuration, the digest preview, health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from notifier.api import create_app
from notifier.service import Service
from tests.conftest import ServiceFactory
from tests.console.helpers import ADMIN, MONDAY_MORNING, READER, Clock, console_config, csrf_of, log_in, request_event
from tests.sink import Sink

# Nothing is sent to these (the tests render only); were something sent, it would reach a closed port.
EXTRA = ('  slack: {type: slack, token: "xoxb-console-secret-token", channel: "#support", '
         'base_url: "http://127.0.0.1:9/api/"}\n'
         '  teams: {type: teams, url: "http://127.0.0.1:9/workflows/secret-path"}\n')


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


async def test_the_configuration_is_shown_with_secrets_masked_and_reloaded_by_an_admin(
        client: httpx.AsyncClient, service: Service) -> None:
    await log_in(client, READER)
    page = await client.get("/console/config")
    assert page.status_code == 200
    text = page.text
    assert "xoxb-console-secret-token" not in text and "secret-path" not in text
    assert 'token: &#34;***&#34;' in text or "token: &quot;***&quot;" in text
    assert 'id="check-ok"' in text and 'id="channel-slack"' in text
    assert "/console/config/reload" not in text  # a reader has no button
    r = await client.post("/console/config/reload", data={"csrf": csrf_of(text)})
    assert r.status_code == 403
    await client.post("/console/logout", data={"csrf": csrf_of(text)})

    await log_in(client, ADMIN)
    # A broken file: check names the line, a reload is refused and the running one stays.
    broken = service.config_path.read_text(encoding="utf-8").replace("to: [hook, slack, teams]", "to: [hook, slak]")
    service.config_path.write_text(broken, encoding="utf-8")
    page = await client.get("/console/config")
    assert 'id="problems"' in page.text and "channels.yaml:" in page.text and "slak" in page.text
    r = await client.post("/console/config/reload", data={"csrf": csrf_of(page.text)})
    assert r.headers["location"] == "/console/config?refused=1"
    assert "slack" in service.config.channels and service.config.routes[0].to == ["hook", "slack", "teams"]
    service.config_path.write_text(broken.replace("slak", "slack"), encoding="utf-8")
    r = await client.post("/console/config/reload", data={"csrf": csrf_of(page.text)})
    assert r.headers["location"] == "/console/config?reloaded=1"
    assert service.config.routes[0].to == ["hook", "slack"]


def test_masking_keeps_env_references_and_hides_literals() -> None:
    from notifier.console.config_page import mask_config_text

    text = mask_config_text(
        'zd: {type: zendesk, subdomain: acme, api_token: ${ZD_TOKEN}}\n'
        'fd: {type: freshdesk, domain: acme, api_key: "${FD:-literal-key}"}\n'
        'hook: {type: webhook, url: "https://example.com/h/abc", headers: {X-Api-Key: k3y}}\n'
        'mail: {type: email, smtp: "smtp://user:pw@mail.example.com:587"}\n'
        'defaults: {dedup: {window: 10m, key: "{site}:{conversation_id}"}}')
    assert "${ZD_TOKEN}" in text and "literal-key" not in text and "k3y" not in text
    assert "/h/abc" not in text and "user:pw" not in text and "mail.example.com" in text
    assert 'key: "{site}:{conversation_id}"' in text  # a dedup key is no secret


async def test_a_past_digest_is_previewed_in_each_channels_look(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    clock = Clock(MONDAY_MORNING)
    text = console_config(sink.url, extra=EXTRA) + """digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [hook, slack]
    sections: [totals, top_questions, support_requests, peak_hours]
"""
    service = await make_service(text, clock=clock)
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as client:
        for i in range(3):
            r = await client.post("/v1/events", headers={"Authorization": f"Bearer {ADMIN}"}, json=request_event(
                conversation_id=f"d{i}", message="<b>Où est ma commande ?</b>"))
            assert r.status_code == 202
        clock.now += timedelta(days=2)
        await log_in(client, READER)
        page = await client.get("/console/digest?name=daily&date=2026-03-09")
        assert page.status_code == 200 and 'id="digest-title"' in page.text
        assert 'id="digest-slack"' in page.text and "<b>Où est ma commande" not in page.text
        digest_text = page.text.split('id="digest-text"')[1]
        assert "DEMANDES DE SUPPORT (3)" in digest_text  # the digest's locale (fr), three requests that day
        email = await client.get("/console/digest/email?name=daily&date=2026-03-09")
        assert email.headers["content-security-policy"].startswith("default-src 'none'")
        assert "&lt;b&gt;Où est ma commande" in email.text or "Où est ma commande" in email.text
        assert "<b>Où est ma commande" not in email.text
        future = await client.get("/console/digest?name=daily&date=2026-03-30")
        assert "a past day only" in future.text


async def test_health_charts_count_what_was_sent_and_what_failed(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.sink import Reply

    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service = await make_service(console_config(sink.url), clock=Clock(MONDAY_MORNING))
    sink.reply(Reply(200), Reply(400), Reply(200))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as client:
        await _health(client, service)


async def _health(client: httpx.AsyncClient, service: Service) -> None:
    for i in range(3):
        r = await client.post("/v1/events", headers={"Authorization": f"Bearer {ADMIN}"},
                              json=request_event(conversation_id=f"h{i}"))
        assert r.status_code == 202
    assert service.worker is not None
    await service.worker.drain()
    await log_in(client, READER)
    page = (await client.get("/console/health")).text
    sent = sum(1 for d in await service.store.list_deliveries(status="sent", channel="hook", limit=10))
    assert sent == 2
    assert "Sent: 2 · Error: 1" in page
    throughput = page.split('id="chart-throughput"')[1].split("</figure>")[0]
    assert throughput.count("<rect") == 24 and ": 2.0</title>" in throughput  # this hour's bar
    statuses = page.split('id="chart-statuses"')[1].split("</figure>")[0]
    assert "sent: 2.0" in statuses and "dead: 1.0" in statuses


async def test_the_configuration_page_shows_each_channels_adaptive_limit(client: httpx.AsyncClient) -> None:
    from notifier import metrics

    metrics.channel_concurrency_limit.labels("teams").set(7)
    await log_in(client, READER)
    page = (await client.get("/console/config")).text
    row = page.split('id="channel-teams"')[1].split("</tr>")[0]
    assert "<td>7</td>" in row
