"""The case page and the Deliveries page over HTTP: what a support lead reads and replays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from notifier.api import create_app
from notifier.service import Service
from notifier.store.cases import CaseStore
from tests.conftest import ServiceFactory
from tests.console.helpers import ADMIN, MONDAY_MORNING, READER, Clock, console_config, csrf_of, log_in, request_event
from tests.sink import Reply, Sink

HOSTILE = '<img src=x onerror=alert(1)>'


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    text = console_config(sink.url).replace("defaults:\n", "defaults:\n  privacy: {redact: [phone]}\n", 1)
    text = text.replace("retry: {attempts: 5", "retry: {attempts: 1")
    return await make_service(text, clock=Clock(MONDAY_MORNING))


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as c:
        yield c


async def post_event(client: httpx.AsyncClient, **kw: object) -> dict[str, object]:
    r = await client.post("/v1/events", json=request_event(**kw), headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 202, r.text
    return dict(r.json())


async def test_the_case_page_shows_the_conversation_as_the_policy_allows(
        client: httpx.AsyncClient, service: Service, sink: Sink) -> None:
    body = await post_event(client, message=f"Rappelez-moi au 06 12 34 56 78 {HOSTILE}",
                            page={"url": "javascript:alert(1)", "title": "Tarifs"},
                            transcript=[{"role": "user", "text": "Bonjour"},
                                        {"role": "assistant", "text": "Que puis-je faire ?"}])
    assert service.worker is not None
    await service.worker.drain()
    case_id = body["case"]["id"]  # type: ignore[index]
    await log_in(client, READER)
    page = (await client.get(f"/console/cases/{case_id}")).text
    assert "06 12 34 56 78" not in page  # redacted by defaults.privacy
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page and "Tarifs" in page
    assert "Bonjour" in page and "Que puis-je faire ?" in page
    assert "Léa" in page and "lea@example.com" in page  # the user consented
    assert 'class="status-sent"' in page and "hook" in page  # the delivery and its attempt
    second = await post_event(client, conversation_id="c2", user={"name": "Paul", "email": "paul@example.com"})
    other = second["case"]["id"]  # type: ignore[index]
    page = (await client.get(f"/console/cases/{other}")).text
    assert "Paul" not in page and "hidden by the privacy policy" in page  # no consent


async def test_dead_letters_are_listed_with_their_reason_and_replayed(
        client: httpx.AsyncClient, service: Service, sink: Sink) -> None:
    sink.reply(Reply(400, b'{"error": "bad field"}'))
    await post_event(client, conversation_id="dead")
    assert service.worker is not None
    await service.worker.drain()
    await log_in(client, ADMIN)
    page = await client.get("/console/deliveries")
    assert 'id="dead-letters"' in page.text and "400" in page.text
    dead = page.text.split('id="dead-')[2].split('"')[0]  # the first row after the table's id
    r = await client.post(f"/console/deliveries/{dead}/replay", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"].endswith("replayed=1")
    await service.worker.drain()
    assert len(sink.received) == 2  # sent again, and the sink now answers 200
    after = await client.get("/console/deliveries?status=sent")
    assert f'id="delivery-{dead}"' in after.text
    assert 'id="dead-letters"' not in after.text


async def test_a_dead_letter_of_an_erased_visitor_is_not_replayed_and_the_page_says_why(
        client: httpx.AsyncClient, service: Service, sink: Sink) -> None:
    sink.reply(Reply(400, b'{"error": "bad field"}'))
    await post_event(client)
    assert service.worker is not None
    await service.worker.drain()
    erased = await client.delete("/v1/privacy/subjects", params={"email": "lea@example.com"},
                                 headers={"Authorization": f"Bearer {ADMIN}"})
    assert erased.status_code == 200
    await log_in(client, ADMIN)
    page = await client.get("/console/deliveries")
    dead = page.text.split('id="dead-')[2].split('"')[0]
    r = await client.post(f"/console/deliveries/{dead}/replay", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "Not replayed: its event was erased (the visitor&#39;s data), nothing is left to send" in page.text
    await service.worker.drain()
    assert len(sink.received) == 1  # no empty shell went out


async def test_filters_and_replay_all_need_admin(client: httpx.AsyncClient, service: Service, sink: Sink) -> None:
    sink.reply(Reply(400), Reply(400))
    await post_event(client, conversation_id="d1")
    await post_event(client, conversation_id="d2")
    assert service.worker is not None
    await service.worker.drain()
    await log_in(client, READER)
    page = await client.get("/console/deliveries?status=dead&channel=hook&route=handoff&since=2026-03-09T09:00")
    assert page.text.count('<tr id="delivery-') == 2
    none = await client.get("/console/deliveries?status=dead&since=2026-03-09T11:00")  # after them (Paris time)
    assert none.text.count('<tr id="delivery-') == 0
    assert "/console/deliveries/replay-dead" not in page.text
    refused = await client.post("/console/deliveries/replay-dead", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403
    await client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    await log_in(client, ADMIN)
    page = await client.get("/console/deliveries")
    assert (await client.post("/console/deliveries/replay-dead", data={})).status_code == 403  # no CSRF token
    r = await client.post("/console/deliveries/replay-dead", data={"csrf": csrf_of(page.text)})
    assert r.headers["location"].endswith("replayed=2")


async def test_a_token_bound_to_sites_sees_only_their_cases(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    from notifier.auth import hash_token

    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    shop_only = "ntf_console-shop-only-0123456789"
    text = console_config(sink.url) + (f'    - {{name: boutique, secret: "{hash_token(shop_only)}", scopes: [admin], '
                                       'sites: [shop.example]}\n')
    service = await make_service(text, clock=Clock(MONDAY_MORNING))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Accept-Language": "en"}) as client:
        mine = await post_event(client, conversation_id="m", site="shop.example")
        other = await post_event(client, conversation_id="o", site="other.example")
        await log_in(client, shop_only)
        queue = (await client.get("/console/")).text
        assert mine["case"]["id"] in queue and other["case"]["id"] not in queue  # type: ignore[index]
        assert (await client.get(f"/console/cases/{other['case']['id']}")).status_code == 404  # type: ignore[index]
        r = await client.post(f"/console/cases/{other['case']['id']}/claim",  # type: ignore[index]
                              data={"csrf": csrf_of(queue)})
        assert r.status_code == 404


def test_helpdesk_tickets_link_to_their_page_and_only_web_addresses_become_links() -> None:
    from notifier.config.loader import parse_config
    from notifier.console.case_page import ticket_url, web_link

    config = parse_config("""version: 1
channels:
  zd: {type: zendesk, subdomain: acme, email: a@acme.com, api_token: t}
  fd: {type: freshdesk, domain: acme, api_key: k}
  hook: {type: webhook, url: "http://127.0.0.1:9/h"}
routes: []
""")
    assert ticket_url(config, "zd", "123") == "https://acme.zendesk.com/agent/tickets/123"
    assert ticket_url(config, "fd", "45") == "https://acme.freshdesk.com/a/tickets/45"
    assert ticket_url(config, "hook", "45") is None and ticket_url(config, "zd", "1/../x") is None
    assert web_link("https://shop.example/p") == "https://shop.example/p"
    assert web_link("javascript:alert(1)") is None and web_link(" JaVaScRiPt:x") is None


async def test_the_case_page_says_its_escalation_was_cancelled_by_the_erasure(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    text = console_config(sink.url).replace(
        "response_target: 30m", "response_target: 30m\n    escalate: [{after: 15m, to: [hook]}]", 1)
    service = await make_service(text, clock=Clock(MONDAY_MORNING))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service, manage=False)),
                                 base_url="http://test", headers={"Accept-Language": "fr"}) as client:
        body = await post_event(client)
        case_id = body["case"]["id"]  # type: ignore[index]
        erased = await client.delete("/v1/privacy/subjects", params={"email": "lea@example.com"},
                                     headers={"Authorization": f"Bearer {ADMIN}"})
        assert erased.status_code == 200 and erased.json()["counts"]["escalations"] == 1
        await log_in(client, READER)
        page = (await client.get(f"/console/cases/{case_id}")).text
        assert "cancelled (son visiteur a été effacé : rien à envoyer)" in page


async def test_an_erased_visitor_s_late_case_leaves_the_queue_and_cannot_be_reopened(
        make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    clock = Clock(MONDAY_MORNING)
    service = await make_service(console_config(sink.url), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service, manage=False)),
                                 base_url="http://test", headers={"Accept-Language": "en"}) as client:
        case_id = (await post_event(client))["case"]["id"]  # type: ignore[index]
        clock.now += timedelta(minutes=40)  # past its 30-minute target: late in the queue
        await log_in(client, ADMIN)
        assert f'id="case-{case_id}" class="open late"' in (await client.get("/console/")).text
        erased = await client.delete("/v1/privacy/subjects", params={"email": "lea@example.com"},
                                     headers={"Authorization": f"Bearer {ADMIN}"})
        assert erased.status_code == 200 and erased.json()["counts"]["cases_closed"] == 1
        # The active queue no longer holds it; the case page says why it closed and offers no reopening.
        assert case_id not in (await client.get("/console/")).text
        page = (await client.get(f"/console/cases/{case_id}")).text
        assert "closed: its visitor&#39;s data was erased, nobody is left to answer" in page
        assert "/reopen" not in page and "late" not in page.split("<dd", 2)[1].split("</dd>")[0]
        # A stale form posted anyway is refused, and the case stays closed.
        r = await client.post(f"/console/cases/{case_id}/reopen", data={"csrf": csrf_of(page)})
        assert r.status_code == 303 and "done=refused" in r.headers["location"]
        case = await CaseStore(service.store.connector()).get(case_id)
        assert case is not None and case.status == "resolved" and case.closed_by_erasure
