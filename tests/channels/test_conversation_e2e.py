"""Through the worker and the store: one helpdesk ticket per conversation, Teams 'accepted'."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifier.core.events import Event
from tests.channels.fakes import FakeTeams, FakeZendesk
from tests.conftest import ServiceFactory


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as server:
        yield server  # type: ignore[misc]


def config(zendesk: FakeZendesk, teams: FakeTeams) -> str:
    return f"""
version: 1
channels:
  desk: {{type: zendesk, subdomain: acme, base_url: "{zendesk.url}", email: "{zendesk.email}",
          api_token: "{zendesk.api_token}"}}
  teams: {{type: teams, url: "{teams.workflow_url}"}}
routes:
  - name: handoff
    match: {{kinds: [support_request, contact_request]}}
    to: [desk, teams]
    dedup: {{window: 1ms}}
"""


def request(event_id: str, kind: str, message: str) -> Event:
    return Event.model_validate({"id": event_id, "kind": kind, "site": "shop.example.com",
                                 "conversation_id": "c-7", "message": message,
                                 "occurred_at": "2024-05-14T12:03:00Z"})


async def test_follow_up_is_a_comment_on_the_conversation_s_ticket(make_service: ServiceFactory,
                                                                  zendesk: FakeZendesk, teams: FakeTeams) -> None:
    service = await make_service(config(zendesk, teams))
    assert service.worker is not None
    await service.accept([request("e1", "support_request", "Je veux un humain")])
    await service.worker.drain()
    await service.accept([request("e2", "contact_request", "Rappelez-moi au 06 12 34 56 78")])
    await service.worker.drain()

    assert len(zendesk.tickets) == 1  # one ticket for the conversation
    assert zendesk.tickets[0]["external_id"] == "shop.example.com:c-7"
    assert zendesk.tickets[0]["comments"][0]["body"].startswith("Rappelez-moi")
    rows = await service.store.list_deliveries(channel="desk")
    assert {d.ref for d in rows} == {str(zendesk.tickets[0]["id"])}

    # Teams: taken by the workflow, not seen posted: the delivery says "accepted".
    teams_rows = await service.store.list_deliveries(channel="teams")
    assert [(d.status, d.ref) for d in teams_rows] == [("sent", "accepted"), ("sent", "accepted")]
