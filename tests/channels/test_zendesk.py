"""Zendesk: ticket fields, auth, idempotency and Zendesk's own errors, against a fake Zendesk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notifier.channels import zendesk
from notifier.channels.base import Report
from notifier.config.models import ZendeskChannel
from notifier.core.events import Priority
from tests.channels.fakes import FakeZendesk, Reply
from tests.channels.samples import context, event, outbound


@pytest.fixture
def fake() -> Iterator[FakeZendesk]:
    with FakeZendesk() as server:
        yield server  # type: ignore[misc]


def desk(fake: FakeZendesk, **options: Any) -> zendesk.Zendesk:
    config = ZendeskChannel(type="zendesk", subdomain="acme", email=fake.email,
                            api_token=options.pop("api_token", fake.api_token), base_url=fake.url,
                            tags=["from-bot"], **options)
    return zendesk.create("zendesk", config, context())


async def test_ticket_carries_the_request_with_its_context(fake: FakeZendesk) -> None:
    channel = desk(fake)
    result = await channel.send(outbound(priority=Priority.urgent))
    await channel.aclose()

    assert result.ok and result.ref == "101" and result.thread_ref == "101"  # the conversation's ticket
    request = fake.requests[0]
    assert request.headers["idempotency-key"] == "0f3c9a6e2b7d4c1a8e5f9b2d6a4c8e1f"
    ticket = fake.tickets[0]
    assert ticket["external_id"] == "shop.example.com:c-42"  # the conversation
    assert ticket["priority"] == "urgent"
    assert ticket["tags"] == ["chatbot", "support_request", "shop.example.com", "from-bot",
                              "notifier_d_0f3c9a6e2b7d4c1a8e5f9b2d6a4c8e1f"]
    assert ticket["requester"] == {"name": "Marie Dupont", "email": "marie@example.com"}
    assert ticket["subject"].startswith("[URGENTE] Demande de support — shop.example.com: Bonjour")
    body = ticket["comment"]["body"]
    assert ticket["comment"]["public"] is False
    assert body.startswith("Bonjour, ma commande n'est jamais arrivée.\nJe voudrais parler à un humain <vite>.")
    assert "Heure : 14/05/2024 14:03 (Europe/Paris)" in body
    assert "Utilisateur : Marie Dupont <marie@example.com> +33 6 12 34 56 78\n" in body
    assert "Bot : Elle a été expédiée le 10 mai." in body
    assert "https://notifier.example.com/v1/events/evt-0001" in body


async def test_priorities_map_one_to_one(fake: FakeZendesk) -> None:
    channel = desk(fake)
    for priority in Priority:
        assert (await channel.send(outbound(priority=priority, delivery_id=f"d-{priority}"))).ok
    await channel.aclose()
    assert [t["priority"] for t in fake.tickets] == ["low", "normal", "high", "urgent"]


async def test_no_requester_without_consent(fake: FakeZendesk) -> None:
    channel = desk(fake)
    ev = event(user={"name": "Marie Dupont", "email": "marie@example.com", "consent": False})
    assert (await channel.send(outbound(ev))).ok
    await channel.aclose()
    assert "requester" not in fake.tickets[0] and "marie" not in fake.tickets[0]["comment"]["body"]


async def test_retry_after_a_lost_reply_makes_no_second_ticket(fake: FakeZendesk) -> None:
    fake.script(Reply.lose())
    channel = desk(fake)
    lost = await channel.send(outbound())
    again = await channel.send(outbound(attempt=2))
    await channel.aclose()
    assert lost.status == "retry"
    assert again.ok and again.ref == "101" and len(fake.tickets) == 1


async def test_follow_up_of_the_conversation_is_a_comment_on_its_ticket(fake: FakeZendesk) -> None:
    channel = desk(fake)
    first = await channel.send(outbound())
    follow = await channel.send(outbound(event(message="Toujours rien ?"), delivery_id="d2",
                                         thread_ref=first.thread_ref, priority=Priority.urgent))
    await channel.aclose()
    assert first.ok and follow.ok and follow.thread_ref == first.thread_ref == "101"
    assert len(fake.tickets) == 1  # one ticket per conversation
    assert fake.requests[1].method == "PUT" and fake.requests[1].path == "/api/v2/tickets/101.json"
    comment = fake.tickets[0]["comments"][0]
    assert comment["public"] is False and comment["body"].startswith("Toujours rien ?")
    assert fake.tickets[0]["priority"] == "urgent"  # an escalation raises the ticket


async def test_deleted_ticket_gives_the_conversation_a_new_one(fake: FakeZendesk) -> None:
    channel = desk(fake)
    result = await channel.send(outbound(thread_ref="999"))
    await channel.aclose()
    assert result.ok and result.thread_ref == "101" and len(fake.tickets) == 1


async def test_retry_after_the_two_hour_key_expired_makes_no_second_ticket(fake: FakeZendesk) -> None:
    fake.script(Reply.lose())
    channel = desk(fake)
    lost = await channel.send(outbound())
    fake.now += 3 * 3600  # Zendesk has forgotten the Idempotency-Key
    again = await channel.send(outbound(attempt=5))
    await channel.aclose()
    assert lost.status == "retry" and again.ok and again.ref == "101"
    assert len(fake.tickets) == 1 and "earlier attempt" in again.reason
    assert [r.method for r in fake.requests] == ["POST", "GET"]  # looked up, not created again


async def test_reused_key_with_another_body_finds_the_ticket_instead_of_dead_lettering(fake: FakeZendesk) -> None:
    channel = desk(fake)
    assert (await channel.send(outbound())).ok
    # A replay re-renders the ticket (here: another priority) under the same delivery id.
    replay = await channel.send(outbound(priority=Priority.low))
    await channel.aclose()
    assert fake.requests[1].method == "POST"  # answered 400 IdempotentRequestError by the fake
    assert replay.ok and replay.ref == "101" and len(fake.tickets) == 1


async def test_reused_key_before_the_ticket_is_listed_is_retried_not_dead(fake: FakeZendesk) -> None:
    fake.script(Reply(400, {"error": "IdempotentRequestError", "description": "Idempotency key already used"}))
    channel = desk(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and result.progress == {"lookup": True}


async def test_wrong_token_is_permanent_with_zendesk_words(fake: FakeZendesk) -> None:
    channel = desk(fake, api_token="not-the-token")
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "permanent" and result.label == "auth"
    assert "Couldn't authenticate you" in result.reason and "not-the-token" not in result.reason


async def test_invalid_requester_email_is_never_sent_and_noted_as_text(fake: FakeZendesk) -> None:
    channel = desk(fake)
    result = await channel.send(outbound(event(user={"name": "M", "email": "marie@", "consent": True})))
    await channel.aclose()
    assert result.ok and len(fake.requests) == 1
    assert "requester" not in fake.tickets[0]  # the API user is the requester
    assert "<marie@> (adresse non valide)" in fake.tickets[0]["comment"]["body"]


async def test_requester_zendesk_refuses_is_dropped_and_the_ticket_created(fake: FakeZendesk) -> None:
    fake.refused_emails.add("marie@example.com")
    channel = desk(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert fake.requests[0].json()["ticket"]["requester"]["email"] == "marie@example.com"  # 422 first
    assert result.ok and len(fake.tickets) == 1 and "requester" not in fake.tickets[0]
    assert "refusée par Zendesk comme demandeur: marie@example.com" in fake.tickets[0]["comment"]["body"]


async def test_invalid_record_names_the_field(fake: FakeZendesk) -> None:
    fake.script(Reply(422, {"error": "RecordInvalid", "description": "Record validation errors",
                            "details": {"priority": [{"description": "Priority: is not valid"}]}}))
    channel = desk(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "permanent" and result.label == "invalid"
    assert "RecordInvalid — Record validation errors — Priority: is not valid" in result.reason


async def test_rate_limit_honours_retry_after(fake: FakeZendesk) -> None:
    fake.script(Reply(429, {"error": "TooManyRequests"}, {"Retry-After": "93"}))
    channel = desk(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and result.retry_after == 93.0


async def test_helpdesk_takes_no_digest(fake: FakeZendesk) -> None:
    channel = desk(fake)
    result = await channel.send_report(Report(key="d", title="t", text="x"))
    await channel.aclose()
    assert result.status == "permanent" and result.reason == "helpdesks do not take digests"
    assert fake.requests == []


def test_default_url_and_preview() -> None:
    channel = zendesk.create("z", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.com",
                                                 api_token="zd-secret-token"), context())
    text = zendesk.preview(channel, outbound())
    assert text.startswith("POST https://acme.zendesk.com/api/v2/tickets.json")
    assert "zd-secret-token" not in text


async def test_long_comment_is_cut_in_bytes_and_says_so(fake: FakeZendesk) -> None:
    channel = desk(fake)
    result = await channel.send(outbound(event(message="字" * 40_000)))  # 120,000 bytes of UTF-8
    await channel.aclose()
    body = fake.tickets[0]["comment"]["body"]
    assert result.ok and len(body.encode()) <= 61_000
    assert "caractères de plus)" in body and "tout lire: https://notifier.example.com/v1/events/evt-0001" in body
