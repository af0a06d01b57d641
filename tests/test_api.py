"""The HTTP API as a chatbot developer meets it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from notifier.api import create_app
from notifier.core.events import event_link
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink) -> Service:
    return await make_service(webhook_config(sink.url))


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def ev(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": "support_request", "site": "shop", "conversation_id": "c1",
                            "message": "Un humain svp", "user": {"email": "a@b.c", "consent": True}}
    data.update(kw)
    return data


async def test_post_one_event_202_with_planned_deliveries(client: httpx.AsyncClient, service: Service) -> None:
    r = await client.post("/v1/events", json=ev(id="e1"))
    assert r.status_code == 202
    body = r.json()
    assert body["id"] == "e1" and body["duplicate"] is False
    assert [(d["route"], d["channel"]) for d in body["deliveries"]] == [("handoff", "hook")]
    # committed before the reply: readable at once
    r = await client.get("/v1/events/e1")
    assert r.status_code == 200
    assert r.json()["event"]["message"] == "Un humain svp"
    assert r.json()["deliveries"][0]["status"] == "pending"


@pytest.mark.parametrize("event_id", ["shop/order/1234", "a|b <c> ?d#e", "100%", "../x"])
async def test_the_link_an_alert_gives_to_an_event_opens_it(client: httpx.AsyncClient, event_id: str) -> None:
    """An id is the client's own key, any text ("shop/order/1234" is a fair one): the link in
    the alerts (``defaults.event_url``) must open that event, not a 404."""
    assert (await client.post("/v1/events", json=ev(id=event_id))).status_code == 202
    link = event_link("http://test/v1/events/{id}", event_id)
    assert link is not None
    r = await client.get(link)
    assert r.status_code == 200 and r.json()["event"]["id"] == event_id


@pytest.mark.parametrize("event_id", [".", ".."])
@pytest.mark.parametrize("where", ["body", "header"])
async def test_an_id_no_url_can_name_is_refused(client: httpx.AsyncClient, event_id: str, where: str) -> None:
    # Clients resolve '.' and '..' (and %2E) as dot segments: the alerts' link to such an
    # event would open something else. Refused at the door, naming where the id came from.
    if where == "body":
        r = await client.post("/v1/events", json=ev(id=event_id))
    else:
        r = await client.post("/v1/events", json=ev(), headers={"Idempotency-Key": event_id})
    assert r.status_code == 422
    assert r.json()["details"][0]["path"] == ("id" if where == "body" else "Idempotency-Key")
    assert "'.' or '..'" in r.json()["details"][0]["message"]


async def test_id_is_generated_and_repeat_is_duplicate(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", json=ev())
    generated = r.json()["id"]
    assert len(generated) >= 16
    r = await client.post("/v1/events", json=ev(id=generated))
    assert r.status_code == 202 and r.json()["duplicate"] is True and r.json()["deliveries"] == []


async def test_idempotency_key_header(client: httpx.AsyncClient) -> None:
    r1 = await client.post("/v1/events", json=ev(), headers={"Idempotency-Key": "k-123"})
    r2 = await client.post("/v1/events", json=ev(), headers={"Idempotency-Key": "k-123"})
    assert r1.json()["id"] == "k-123" and r1.json()["duplicate"] is False
    assert r2.json()["duplicate"] is True


@pytest.mark.parametrize(("body", "says"), [
    ([ev(id="b1"), ev(id="b2")], "names one event: in a batch, give each event its own `id`"),
    (ev(id="e-9"), "differs from the event's id 'e-9'"),
])
async def test_an_idempotency_key_that_cannot_name_the_event_is_refused(
        client: httpx.AsyncClient, body: Any, says: str) -> None:
    # Ignored, the header would let the client believe its retries safe: nothing is stored.
    r = await client.post("/v1/events", json=body, headers={"Idempotency-Key": "k-9"})
    assert r.status_code == 422
    assert r.json()["details"][0]["path"] == "Idempotency-Key" and says in r.json()["error"]
    for event_id in ("b1", "e-9", "k-9"):
        assert (await client.get(f"/v1/events/{event_id}")).status_code == 404
    # The same value in both is one key: accepted
    r = await client.post("/v1/events", json=ev(id="k-9"), headers={"Idempotency-Key": "k-9"})
    assert r.status_code == 202 and r.json()["id"] == "k-9"


async def test_batch(client: httpx.AsyncClient) -> None:
    batch = [ev(id=f"b{i}", conversation_id=f"c{i}") for i in range(100)]
    r = await client.post("/v1/events", json=batch)
    assert r.status_code == 202
    events = r.json()["events"]
    assert [e["id"] for e in events] == [f"b{i}" for i in range(100)]
    assert all(len(e["deliveries"]) == 1 for e in events)


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", content=b'{"kind": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "invalid JSON" in r.json()["error"]


async def test_unknown_kind_lists_allowed_kinds(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", json=ev(kind="help_me"))
    assert r.status_code == 422
    [detail] = r.json()["details"]
    assert detail["path"] == "kind"
    for kind in ("support_request", "contact_request", "message", "tool_call", "feedback"):
        assert kind in detail["message"]


async def test_unknown_field_and_nested_field_are_named(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", json=ev(colour="blue", user={"email": "x", "consent": "maybe"}))
    assert r.status_code == 422
    paths = {d["path"]: d["message"] for d in r.json()["details"]}
    assert paths["colour"] == "unknown field"
    assert "user.consent" in paths


@pytest.mark.parametrize(("body", "path", "message"), [
    ('"Un humain svp"', "(top level)",
     "the body should be a JSON object (one event) or an array of them, not a string"),
    ('[{"kind": "message"}, 3]', "[1]", "should be a JSON object, not a number"),
    ('{"kind": "message", "user": "marie@example.com"}', "user", "should be a JSON object, not a string"),
    ('{"kind": "message", "transcript": [null]}', "transcript[0]", "should be a JSON object, not null"),
    ('{"kind": "tool_call", "tool": {"name": "t", "arguments": []}}', "tool.arguments",
     "should be a JSON object, not an array"),
])
async def test_a_value_that_should_be_an_object_is_named_in_json_words(
        client: httpx.AsyncClient, body: str, path: str, message: str) -> None:
    # Not pydantic's "a valid dictionary or instance of User": the client sent JSON.
    r = await client.post("/v1/events", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert [(d["path"], d["message"]) for d in r.json()["details"]] == [(path, message)]


async def test_bad_element_rejects_whole_batch_with_its_index(client: httpx.AsyncClient, service: Service) -> None:
    batch = [ev(id="ok-0"), ev(id="ok-1"), ev(id="bad-2", kind="nope"), ev(id="ok-3")]
    r = await client.post("/v1/events", json=batch)
    assert r.status_code == 422
    [detail] = r.json()["details"]
    assert detail["index"] == 2 and detail["path"] == "[2].kind"
    assert "nothing was stored" in r.json()["error"]
    assert await service.store.get_event("ok-0") is None


async def test_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", content=b"[" + b" " * (1024 * 1024 + 10) + b"]",
                          headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_a_streamed_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the server must count
        for _ in range(64):
            yield b" " * 65536

    r = await client.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than" in r.json()["error"]


async def test_batch_over_1000_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", content=orjson.dumps([{"kind": "message"}] * 1001),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "1000" in r.json()["error"]


async def test_token_required_when_set(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_API_TOKEN", "s3cret-token-0123456789abcd")
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.post("/v1/events", json=ev())).status_code == 401
        bad = await c.post("/v1/events", json=ev(), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        ok = await c.post("/v1/events", json=ev(), headers={"Authorization": "Bearer s3cret-token-0123456789abcd"})
        assert ok.status_code == 202
        assert (await c.get("/healthz")).status_code == 200


async def test_deliveries_listing_replay_and_metrics(client: httpx.AsyncClient, service: Service,
                                                     sink: Sink) -> None:
    from tests.sink import Reply

    sink.reply(Reply(404, b"no such hook"))
    await client.post("/v1/events", json=ev(id="to-die"))
    assert service.worker is not None
    await service.worker.drain()
    r = await client.get("/v1/deliveries", params={"status": "dead"})
    [dead] = r.json()["deliveries"]
    assert "HTTP 404" in dead["last_error"]
    r = await client.get(f"/v1/deliveries/{dead['id']}")
    assert r.json()["attempt_history"][0]["outcome"] == "permanent"
    r = await client.post(f"/v1/deliveries/{dead['id']}/replay")
    assert r.status_code == 202
    await service.worker.drain()
    assert (await client.get(f"/v1/deliveries/{dead['id']}")).json()["status"] == "sent"
    assert (await client.post("/v1/deliveries/nope/replay")).status_code == 404
    assert (await client.get("/v1/deliveries", params={"status": "bogus"})).status_code == 422
    metrics = (await client.get("/metrics")).text
    assert "notifier_events_accepted_total" in metrics
    assert 'notifier_delivery_attempts_total{channel="hook"' in metrics


async def test_a_path_or_method_the_api_does_not_have_answers_its_error_shape(client: httpx.AsyncClient) -> None:
    # A client's typo (or an id with a newline) meets the framework's own answer unless
    # the API gives it the {"error": …} shape every other answer has.
    for path in ("/v1/event", "/v1/events/a%0Ab/c", "/console/nothing/here"):
        missing = await client.get(path)
        assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}, (path, missing.text)
    wrong = await client.put("/v1/events")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
    assert "POST" in wrong.headers["allow"]
