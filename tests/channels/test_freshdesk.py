"""Freshdesk: ticket fields, requester rules and no duplicate on retry, against a fake Freshdesk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from notifier.channels import freshdesk
from notifier.channels.base import Report
from notifier.config.models import FreshdeskChannel
from notifier.core.events import Priority
from tests.channels.fakes import FakeFreshdesk, Reply
from tests.channels.samples import context, event, outbound

NO_CONSENT = {"name": "Marie Dupont", "email": "marie@example.com", "consent": False}


@pytest.fixture
def fake() -> Iterator[FakeFreshdesk]:
    with FakeFreshdesk() as server:
        yield server  # type: ignore[misc]


def desk(fake: FakeFreshdesk, *, admin_email: str | None = "admin@example.com", **options: Any) -> freshdesk.Freshdesk:
    config = FreshdeskChannel(type="freshdesk", domain="acme", base_url=fake.url,
                              api_key=options.pop("api_key", fake.api_key), **options)
    return freshdesk.create("freshdesk", config, context(admin_email=admin_email))


async def test_ticket_is_open_from_chat_with_priority_and_tags(fake: FakeFreshdesk) -> None:
    channel = desk(fake, tags=["vip"])
    result = await channel.send(outbound())
    await channel.aclose()

    assert result.ok and result.ref == "5001"
    ticket = fake.tickets[0]
    assert (ticket["status"], ticket["source"], ticket["priority"]) == (2, 7, 3)
    assert ticket["email"] == "marie@example.com" and ticket["name"] == "Marie Dupont"
    assert ticket["tags"] == ["chatbot", "support_request", "shop.example.com", "vip",
                              "notifier-0f3c9a6e2b7d4c1a8e5f9b2"]
    assert ticket["subject"].startswith("[HAUTE] Demande de support — shop.example.com: Bonjour")
    html = ticket["description"]
    assert "Je voudrais parler à un humain &lt;vite&gt;." in html  # escaped HTML
    page = "https://shop.example.com/orders/1234"
    assert f'Mes commandes <a href="{page}">{page}</a>' in html  # the link shows its target
    assert "<b>Bot :</b> Elle a été expédiée le 10 mai." in html


async def test_priorities_map_to_1_to_4(fake: FakeFreshdesk) -> None:
    channel = desk(fake)
    for priority in Priority:
        assert (await channel.send(outbound(priority=priority, delivery_id=f"d-{priority}"))).ok
    await channel.aclose()
    assert [t["priority"] for t in fake.tickets] == [1, 2, 3, 4]


async def test_requester_without_consent_is_the_fallback_address(fake: FakeFreshdesk) -> None:
    channel = desk(fake, fallback_email="support@example.com")
    admin = desk(fake)
    assert (await channel.send(outbound(event(user=NO_CONSENT)))).ok
    assert (await admin.send(outbound(event(user=NO_CONSENT), delivery_id="d2"))).ok
    await channel.aclose()
    await admin.aclose()
    assert [t["email"] for t in fake.tickets] == ["support@example.com", "admin@example.com"]
    assert all("name" not in t and "marie" not in t["description"] for t in fake.tickets)


async def test_no_requester_at_all_is_permanent(fake: FakeFreshdesk) -> None:
    channel = desk(fake, admin_email=None)
    result = await channel.send(outbound(event(user=None)))
    await channel.aclose()
    assert result.status == "permanent" and "fallback_email" in result.reason and fake.requests == []


async def test_retry_after_a_lost_reply_finds_the_ticket_instead_of_a_duplicate(fake: FakeFreshdesk) -> None:
    """The retry comes a minute later: the search index has not seen the ticket yet, the list has."""
    fake.script(Reply.lose())
    channel = desk(fake)
    lost = await channel.send(outbound())
    fake.now += 60
    again = await channel.send(outbound(attempt=2))
    await channel.aclose()

    assert lost.status == "retry"
    assert again.ok and again.ref == "5001" and again.thread_ref == "5001" and len(fake.tickets) == 1
    listed = fake.requests[1]
    assert listed.path == "/api/v2/tickets"  # the consistent list, not /search
    assert listed.query["email"] == "marie@example.com" and listed.query["updated_since"] == "2024-05-14T11:58:00Z"


async def test_the_fake_search_lags_like_freshdesk_s(fake: FakeFreshdesk) -> None:
    """Why the search is not used: a ticket created a minute ago is not found there."""
    channel = desk(fake)
    assert (await channel.send(outbound())).ok
    await channel.aclose()
    query = {"query": "\"tag:'notifier-0f3c9a6e2b7d4c1a8e5f9b2'\""}
    async with httpx.AsyncClient(auth=(fake.api_key, "X")) as client:
        fake.now += 60
        early = (await client.get(f"{fake.url}/api/v2/search/tickets", params=query)).json()
        fake.now += 600
        late = (await client.get(f"{fake.url}/api/v2/search/tickets", params=query)).json()
    assert early["total"] == 0 and late["total"] == 1


async def test_follow_up_of_the_conversation_is_a_note_on_its_ticket(fake: FakeFreshdesk) -> None:
    channel = desk(fake)
    first = await channel.send(outbound())
    follow = await channel.send(outbound(event(message="Toujours rien ?"), delivery_id="d2",
                                         thread_ref=first.thread_ref))
    gone = await channel.send(outbound(delivery_id="d3", thread_ref="4242"))
    await channel.aclose()
    assert first.ok and follow.ok and follow.thread_ref == "5001"
    note = fake.tickets[0]["notes"][0]
    assert note["private"] is True and note["body"].startswith("<p>Toujours rien ?</p>")
    assert gone.ok and gone.thread_ref == "5002" and len(fake.tickets) == 2  # a deleted ticket: a new one


async def test_retry_when_nothing_was_created_creates_the_ticket(fake: FakeFreshdesk) -> None:
    fake.script(503)
    channel = desk(fake)
    failed = await channel.send(outbound())
    again = await channel.send(outbound(attempt=2))
    await channel.aclose()
    assert failed.status == "retry" and again.ok and len(fake.tickets) == 1


async def test_list_outage_delays_rather_than_risking_a_duplicate(fake: FakeFreshdesk) -> None:
    fake.script(Reply(503, {"message": "maintenance"}))
    channel = desk(fake)
    result = await channel.send(outbound(attempt=3))
    await channel.aclose()
    assert result.status == "retry" and fake.tickets == []


async def test_bad_key_is_permanent_with_freshdesk_words(fake: FakeFreshdesk) -> None:
    channel = desk(fake, api_key="not-the-key")
    bad_key = await channel.send(outbound())
    await channel.aclose()
    assert bad_key.status == "permanent" and "You have to be logged in" in bad_key.reason
    assert "not-the-key" not in bad_key.reason


async def test_invalid_or_refused_requester_gives_way_to_the_fallback(fake: FakeFreshdesk) -> None:
    fake.refused_emails.add("marie@example.com")
    channel = desk(fake)
    invalid = await channel.send(outbound(event(user={"email": "marie@nowhere", "consent": True})))
    refused = await channel.send(outbound())
    await channel.aclose()
    assert invalid.ok and fake.tickets[0]["email"] == "admin@example.com"  # never sent as requester
    assert "&lt;marie@nowhere&gt; (adresse non valide)" in fake.tickets[0]["description"]
    assert refused.ok and fake.tickets[1]["email"] == "admin@example.com"  # after Freshdesk's 400
    assert "marie@example.com (refused by Freshdesk as requester)" in fake.tickets[1]["description"]
    assert fake.requests[-2].json()["email"] == "marie@example.com"  # refused with 400, then the fallback


async def test_helpdesk_takes_no_digest(fake: FakeFreshdesk) -> None:
    channel = desk(fake)
    result = await channel.send_report(Report(key="d", title="t", text="x"))
    await channel.aclose()
    assert result.status == "permanent" and result.reason == "helpdesks do not take digests"


async def test_a_long_conversation_is_cut_to_fit_with_a_note(fake: FakeFreshdesk) -> None:
    # Emoji and CJK weigh 4 and 3 bytes: the bound is in bytes, and no character is split.
    long = "😀 長い会話 <b>&" * 4_000
    ev = event(message=long, transcript=[{"role": "user", "text": long}] * 6)
    channel = desk(fake)
    first = await channel.send(outbound(ev))
    await channel.aclose()

    assert first.ok
    html = fake.tickets[0]["description"]
    assert len(html.encode("utf-8")) <= freshdesk.MAX_DESCRIPTION
    assert "caractères de plus)" in html  # the agent is told the text goes on
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html  # still escaped after the cut
    assert "https://notifier.example.com/v1/events/" in html  # and where to read it all
