"""Teams and the helpdesks follow a case: the alert card carries its action links, each action is a
new card in Teams and an internal note on the Zendesk and Freshdesk tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.action_links import links_for
from notifier.cases import act
from notifier.core.events import Event
from notifier.service import Service
from tests.channels.fakes import FakeFreshdesk, FakeTeams, FakeZendesk, Reply
from tests.conftest import ServiceFactory

NOW = datetime(2026, 3, 4, 13, 5, tzinfo=UTC)  # 14:05 in Paris
BASE = "https://notifier.example.com"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTeams, FakeZendesk, FakeFreshdesk]]:
    with FakeTeams() as teams, FakeZendesk() as zendesk, FakeFreshdesk() as freshdesk:
        yield teams, zendesk, freshdesk  # type: ignore[misc]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def service(make_service: ServiceFactory, fakes: tuple[FakeTeams, FakeZendesk, FakeFreshdesk],
                  clock: Clock) -> Service:
    teams, zendesk, freshdesk = fakes
    return await make_service(f"""version: 1
defaults:
  timezone: Europe/Paris
  public_url: {BASE}
  retry: {{attempts: 3, backoff: 10ms, max_backoff: 20ms}}
action_links: {{secret: follow-ups-secret-0123456789abcdefgh}}
channels:
  teams: {{type: teams, url: "{teams.workflow_url}"}}
  zendesk: {{type: zendesk, subdomain: acme, email: {zendesk.email}, api_token: {zendesk.api_token},
            base_url: {zendesk.url}}}
  freshdesk: {{type: freshdesk, domain: acme, api_key: {freshdesk.api_key}, base_url: {freshdesk.url}}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [teams, zendesk, freshdesk]
""", clock=clock)


def request() -> Event:
    return Event.model_validate({"id": "e1", "kind": "support_request", "site": "shop.example.com",
                                 "conversation_id": "c-1", "message": "Mon colis n'arrive pas",
                                 "user": {"name": "Ana", "email": "ana@example.com", "consent": True}})


async def drain(service: Service) -> None:
    assert service.worker is not None
    await service.worker.drain()


def runs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [run for block in card["body"] if block["type"] == "RichTextBlock" for run in block["inlines"]]


def text_blocks(card: dict[str, Any]) -> str:
    return " ".join(b["text"] for b in card["body"] if b["type"] == "TextBlock")


async def opened_case(service: Service) -> str:
    [accepted] = await service.accept([request()], now=NOW)
    await drain(service)
    assert accepted.case is not None
    return str(accepted.case["id"])


async def test_the_alert_card_opens_the_signed_confirmation_pages(service: Service,
                                                                   fakes: tuple[FakeTeams, FakeZendesk, FakeFreshdesk]
                                                                   ) -> None:
    teams, _, _ = fakes
    case_id = await opened_case(service)
    [card] = teams.cards
    buttons = {a["title"]: a["url"] for a in card["actions"]}
    assert set(buttons) == {"Je m'en occupe", "Résolu"}
    links = links_for(service.config)
    assert links is not None
    for title, action in (("Je m'en occupe", "claim"), ("Résolu", "resolve")):
        assert buttons[title].startswith(f"{BASE}/v1/cases/{case_id}/act?t=")
        grant = links.verify(buttons[title].split("t=", 1)[1], NOW + timedelta(days=6))
        assert (grant.case_id, grant.action, grant.via) == (case_id, action, "teams")


async def test_each_action_reaches_teams_and_the_tickets(service: Service, clock: Clock,
                                                          fakes: tuple[FakeTeams, FakeZendesk, FakeFreshdesk]) -> None:
    teams, zendesk, freshdesk = fakes
    case_id = await opened_case(service)
    name = "Marie [cliquez](https://evil.example)"  # what an agent typed is shown, never rendered as Markdown
    result = await act(service.store, service.config, case_id, "claim", by=name, via="slack", now=NOW)
    assert result.changed
    await drain(service)

    _, told = teams.cards
    assert all(run["text"] != "" for run in runs(told))
    sentence = runs(told)[0]["text"]
    assert sentence == f"Pris en charge par {name} à 14:05 (depuis Slack)"
    assert name not in text_blocks(told)  # Markdown renders in TextBlocks, not in TextRuns
    assert [a["title"] for a in told["actions"]] == ["Résolu"]  # what is left to do
    [ticket] = zendesk.tickets
    note = ticket["comments"][-1]
    assert note["public"] is False and note["body"] == f"Pris en charge par {name} à 14:05 (depuis Slack)."
    [fd_ticket] = freshdesk.tickets
    fd_note = fd_ticket["notes"][-1]
    assert fd_note["private"] is True
    assert fd_note["body"] == ("<p>Pris en charge par Marie [cliquez](https://evil.example) à 14:05 "
                               "(depuis Slack).</p>")

    # Resolved in Zendesk itself (its webhook): Zendesk is not told what it said; the others are.
    clock.now = NOW + timedelta(minutes=25)
    await act(service.store, service.config, case_id, "resolve", by="Léa", via="zendesk", now=clock.now,
              note="<b>colis</b> renvoyé")
    await drain(service)
    assert len(ticket["comments"]) == 1  # the claim's note only
    assert runs(teams.cards[-1])[0]["text"] == "Résolu par Léa à 14:30 (dans Zendesk)"
    assert "actions" not in teams.cards[-1] or all(a["title"] == "Ouvrir" for a in teams.cards[-1]["actions"])
    assert freshdesk.tickets[0]["notes"][-1]["body"] == (
        "<p>Résolu par Léa à 14:30 (dans Zendesk).</p><p>Note : &lt;b&gt;colis&lt;/b&gt; renvoyé</p>")
    assert all(r.status == "Succeeded" for r in teams.runs)  # every card passed the flow's checks


async def test_a_lost_zendesk_answer_adds_the_note_once(service: Service, clock: Clock,
                                                        fakes: tuple[FakeTeams, FakeZendesk, FakeFreshdesk]) -> None:
    _, zendesk, _ = fakes
    case_id = await opened_case(service)
    # The ticket is read, then the note is added but the answer never comes back.
    zendesk.script(Reply.normal(), Reply.lose())
    await act(service.store, service.config, case_id, "claim", by="Marie", via="api", now=NOW)
    await drain(service)
    clock.now += timedelta(seconds=5)  # the retry is due
    await drain(service)
    [ticket] = zendesk.tickets
    notes = [c for c in ticket["comments"] if "Pris en charge" in c["body"]]
    assert len(notes) == 1
    # Whether the HTTP client sent the update again or the worker retried, the ticket was read
    # first (Show Ticket) and its follow-up's tag found: no second note.
    assert zendesk.requests[-1].method == "GET"
    follow_up = [d for d in await service.store.list_deliveries(channel="zendesk") if d.route == "follow-up"]
    assert [d.status for d in follow_up] == ["sent"]
