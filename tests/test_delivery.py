"""End to end through the worker: retries, dead letters, dedup, restarts, fallback."""

from __future__ import annotations

import asyncio
from typing import Any

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Reply, Sink


def support(**kw: Any) -> Event:
    data = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c1",
            "message": "Je veux parler à un humain"}
    data.update(kw)
    return Event.model_validate(data)


async def test_event_reaches_webhook_with_its_delivery_id(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    [accepted] = await service.accept([support(id="ev-1")])
    assert [d.channel for d in accepted.deliveries] == ["hook"]
    assert service.worker is not None
    stats = await service.worker.drain()
    assert stats.sent == 1
    [req] = sink.received
    body = req.json()
    assert body["event"]["id"] == "ev-1"
    assert body["event"]["message"] == "Je veux parler à un humain"
    assert body["route"] == "handoff" and body["routes"] == ["handoff"]
    assert req.headers["idempotency-key"] == accepted.deliveries[0].id == body["delivery_id"]
    [d] = await service.store.list_deliveries(event_id="ev-1")
    assert d.status == "sent" and d.attempts == 1


async def test_the_posted_event_is_the_stored_one_and_hides_a_user_who_did_not_consent(
        make_service: ServiceFactory, sink: Sink) -> None:
    # The send encodes the event straight to JSON; it must read as the event does, every
    # field a visitor typed included, and a user without consent must still be hidden.
    service = await make_service(webhook_config(sink.url))
    told = support(id="ev-yes", message='Emoji 😀, \\ "quoted" <b>x</b>', labels={"team": "ops", "lang": "é"},
                   user={"name": "Zoë", "email": "z@example.com", "consent": True},
                   transcript=[{"role": "user", "text": "Bonjour \u2028"}, {"role": "assistant", "text": "Oui ?"}],
                   page={"url": "https://shop.example.com/p?q=1", "title": "Panier"})
    hidden = support(id="ev-no", conversation_id="c2",
                     user={"name": "Anne", "email": "a@example.com", "consent": False})
    await service.accept([told, hidden])
    assert service.worker is not None
    assert (await service.worker.drain()).sent == 2
    bodies = {r.json()["event"]["id"]: r.json() for r in sink.received}
    stored = await service.store.get_event("ev-yes")
    assert stored is not None and bodies["ev-yes"]["event"] == stored[0].to_json()
    assert bodies["ev-yes"]["event"]["user"]["name"] == "Zoë"
    assert bodies["ev-no"]["event"]["user"] == {"consent": False}
    assert "Anne" not in sink.received[0].body.decode() + sink.received[1].body.decode()


async def test_503_then_200_is_delivered_on_retry(make_service: ServiceFactory, sink: Sink) -> None:
    sink.reply(Reply(503, b"busy"))
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="ev-503")])
    assert service.worker is not None
    stats = await service.worker.drain(include_retries=True, timeout=10)
    assert (stats.retried, stats.sent) == (1, 1)
    assert len(sink.received) == 2
    [d] = await service.store.list_deliveries(event_id="ev-503")
    assert d.status == "sent" and d.attempts == 2
    attempts = await service.store.attempts(d.id)
    assert [a.outcome for a in attempts] == ["retry", "sent"]
    assert "HTTP 503" in attempts[0].reason


async def test_429_retry_after_is_honoured(make_service: ServiceFactory, sink: Sink) -> None:
    sink.reply(Reply(429, b'{"error":"slow down"}', {"Retry-After": "2"}))
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="ev-429")])
    assert service.worker is not None
    await service.worker.drain(include_retries=True, timeout=15)
    first, second = sink.received
    assert second.at - first.at >= 2.0, "retried before Retry-After"
    [d] = await service.store.list_deliveries(event_id="ev-429")
    assert d.status == "sent"


async def test_a_retry_after_of_ages_is_taken_as_a_day_not_an_internal_error(make_service: ServiceFactory,
                                                                             sink: Sink) -> None:
    # A receiver's Retry-After is its own text: "1e23" seconds overflowed the retry's date (a
    # dead letter saying "internal error") and paused the channel for good.
    sink.reply(Reply(503, b"busy", {"Retry-After": "99999999999999999999999"}))
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="ev-ages")])
    assert service.worker is not None
    await service.worker.drain(include_retries=False, timeout=10)
    [d] = await service.store.list_deliveries(event_id="ev-ages")
    assert d.last_error is not None and "HTTP 503" in d.last_error and "internal error" not in d.last_error
    assert 0 < service.worker.gates()["hook"].pause_left() <= 86_400


async def test_400_is_a_dead_letter_after_one_attempt(make_service: ServiceFactory, sink: Sink) -> None:
    sink.reply(Reply(400, b'{"error": "field \\"event\\" is not what we expected"}'))
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="ev-400")])
    assert service.worker is not None
    stats = await service.worker.drain(include_retries=True, timeout=5)
    assert stats.dead == 1 and len(sink.received) == 1
    [dead] = await service.store.list_deliveries(status="dead")
    assert dead.attempts == 1
    assert dead.last_error is not None
    assert "HTTP 400" in dead.last_error and "is not what we expected" in dead.last_error

    # A replay sends it again; this time the sink accepts it.
    assert await service.store.replay(service.clock(), dead.id) == [dead.id]
    await service.worker.drain()
    assert len(sink.received) == 2
    assert (await service.store.get_delivery(dead.id)).status == "sent"  # type: ignore[union-attr]


async def test_exhausted_retries_become_a_dead_letter(make_service: ServiceFactory, sink: Sink) -> None:
    sink.responder = lambda req: Reply(500, b"down")
    service = await make_service(webhook_config(sink.url, retry="{attempts: 3, backoff: 10ms, max_backoff: 20ms}"))
    await service.accept([support(id="ev-500")])
    assert service.worker is not None
    await service.worker.drain(include_retries=True, timeout=10)
    [dead] = await service.store.list_deliveries(status="dead")
    assert dead.attempts == 3 and len(sink.received) == 3
    assert "gave up after 3 attempts" in (dead.last_error or "")


async def test_retry_survives_a_restart(make_service: ServiceFactory, sink: Sink, tmp_path: Any) -> None:
    sink.reply(Reply(503, b"busy"))
    config = webhook_config(sink.url, retry="{attempts: 5, backoff: 300ms, max_backoff: 1s}")
    first = await make_service(config)
    await first.accept([support(id="ev-restart")])
    assert first.worker is not None
    await first.worker.drain()
    [d] = await first.store.list_deliveries(event_id="ev-restart")
    assert d.status == "pending" and d.attempts == 1 and d.next_attempt_at is not None
    await first.close()

    second = await make_service(config)  # same database file: a new process would see the same
    assert second.worker is not None
    stats = await second.worker.drain(include_retries=True, timeout=10)
    assert stats.sent == 1 and len(sink.received) == 2
    [d] = await second.store.list_deliveries(event_id="ev-restart")
    assert d.status == "sent" and d.attempts == 2


async def test_same_event_id_twice_is_delivered_once(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    first = await service.accept([support(id="same")])
    again = await service.accept([support(id="same", message="changed")])
    assert not first[0].duplicate and again[0].duplicate and again[0].deliveries == []
    assert service.worker is not None
    await service.worker.drain()
    assert len(sink.received) == 1


async def test_ten_requests_of_one_conversation_send_one_then_say_nine_folded(
    make_service: ServiceFactory, sink: Sink
) -> None:
    from datetime import timedelta

    from notifier.worker import utcnow

    t0 = utcnow()
    clock = [t0]
    service = await make_service(webhook_config(sink.url, dedup="{window: 10m}"), clock=lambda: clock[0])
    for i in range(10):
        clock[0] = t0 + timedelta(seconds=i)
        await service.accept([support(id=f"rep-{i}")])
    assert service.worker is not None
    await service.worker.drain()
    assert len(sink.received) == 1
    suppressed = await service.store.list_deliveries(status="suppressed")
    assert len(suppressed) == 9

    clock[0] = t0 + timedelta(minutes=11)
    await service.accept([support(id="after-window")])
    await service.worker.drain()
    assert len(sink.received) == 2
    assert sink.received[1].json()["folded"] == 9


async def test_a_channel_named_by_two_routes_gets_the_event_once(make_service: ServiceFactory, sink: Sink) -> None:
    routes = """
    - name: all handoffs
      match: {kinds: [support_request]}
      to: [hook]
    - name: shop
      match: {site: shop.example.com}
      to: [hook]
    """
    service = await make_service(webhook_config(sink.url, routes=routes))
    [acc] = await service.accept([support(id="twice")])
    assert [(d.route, d.channel) for d in acc.deliveries] == [("all handoffs", "hook")]
    assert service.worker is not None
    await service.worker.drain()
    assert len(sink.received) == 1


async def test_unrouted_support_request_goes_to_fallback(make_service: ServiceFactory, sink: Sink) -> None:
    routes = """
    - name: only keywords
      match: {kinds: [message], keywords: [urgent]}
      to: [hook]
    """
    config = webhook_config(sink.url, routes=routes) + "fallback: [hook]\n"
    service = await make_service(config)
    [acc] = await service.accept([support(id="lonely")])
    assert [(d.route, d.channel) for d in acc.deliveries] == [("fallback", "hook")]
    [msg] = await service.accept([Event.model_validate({"kind": "message", "role": "user", "message": "bonjour"})])
    assert msg.deliveries == []  # plain messages are stored for the digest, not routed


async def test_keyword_message_is_routed(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    [hit] = await service.accept([Event.model_validate(
        {"kind": "message", "role": "user", "conversation_id": "k", "message": "Je veux un REMBOURSEMENT !"})])
    [miss] = await service.accept([Event.model_validate(
        {"kind": "message", "role": "user", "conversation_id": "k2", "message": "les remboursements ?"})])
    assert len(hit.deliveries) == 1 and miss.deliveries == []
    assert service.worker is not None
    await service.worker.drain()
    assert sink.received[0].json()["keywords"] == ["remboursement"]


async def test_route_dedup_override_takes_its_own_window(make_service: ServiceFactory, sink: Sink) -> None:
    routes = """
    - name: handoff
      match: {kinds: [support_request]}
      to: [hook]
      dedup: {window: 30m}
    """
    service = await make_service(webhook_config(sink.url, routes=routes, dedup="{window: 1m}"))
    [first] = await service.accept([support(id="o-1")])
    [d] = await service.store.list_deliveries(event_id="o-1")
    assert d.dedup_key == "handoff|shop.example.com:conversation:c1:support_request"
    from datetime import timedelta

    [later] = await service.accept([support(id="o-2")], now=service.clock() + timedelta(minutes=20))
    assert later.deliveries[0].status == "suppressed", "the route's 30m window should still hold"
    assert first.deliveries[0].status == "pending"


async def test_a_slow_channel_does_not_hold_back_the_others(make_service: ServiceFactory, sink: Sink) -> None:
    from tests.sink import Sink as SlowSink

    with SlowSink() as slow:
        slow.latency = 0.05
        extra = "  slow: {type: webhook, url: \"" + slow.url + "\", concurrency: 1}\n"
        routes = """
        - name: slow first
          match: {kinds: [support_request]}
          to: [slow]
        - name: fast too
          match: {kinds: [support_request]}
          to: [hook]
        """
        service = await make_service(webhook_config(sink.url, extra=extra, routes=routes, dedup="{window: 0s}"))
        await service.accept([support(id=f"s{i}", conversation_id=f"c{i}") for i in range(60)])
        assert service.worker is not None
        drain = asyncio.create_task(service.worker.drain(timeout=60))
        # The fast channel gets all 60 while the slow one (one at a time, 50 ms each) is far behind.
        await sink.wait_for(60, timeout=20)
        assert len(slow.received) < 60
        await drain
        assert len(slow.received) == 60


async def test_repeated_failures_are_warned_about_and_counted(make_service: ServiceFactory, sink: Sink) -> None:
    from structlog.testing import capture_logs

    from notifier import metrics

    def warnings_so_far() -> float:
        return metrics.REGISTRY.get_sample_value("notifier_failure_warnings_total",
                                                 {"channel": "hook", "kind": "repeated"}) or 0.0

    before = warnings_so_far()
    sink.reply(Reply(503, b"busy"), Reply(503, b"busy"), Reply(503, b"busy"), Reply(503, b"busy"))
    service = await make_service(webhook_config(sink.url))
    await service.accept([support(id="ev-503x4")])
    assert service.worker is not None
    with capture_logs() as logs:
        stats = await service.worker.drain(include_retries=True, timeout=30)
    assert stats.sent == 1
    warned = [e for e in logs if e["event"] == "delivery keeps failing"]
    assert len(warned) == 1 and warned[0]["log_level"] == "warning"
    assert "failed 3 times in a row: HTTP 503" in warned[0]["detail"]
    assert warnings_so_far() == before + 1
    # Recovered: the gauge an alert would watch is back to 0.
    assert metrics.REGISTRY.get_sample_value("notifier_channel_consecutive_failures", {"channel": "hook"}) == 0
