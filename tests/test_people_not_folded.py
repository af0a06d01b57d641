"""Dedup never folds two people together: without a conversation id, each person reaches the team."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def contact(**kw: Any) -> Event:
    data: dict[str, Any] = {"kind": "contact_request", "site": "shop.example.com",
                            "message": "Rappelez-moi s'il vous plaît"}
    data.update(kw)
    return Event.model_validate(data)


FALLBACK_ONLY = """
  - name: nothing here
    match: {kinds: [feedback]}
    to: [hook]
"""


@pytest.mark.parametrize("routes", [None, FALLBACK_ONLY], ids=["route", "fallback"])
async def test_requests_without_conversation_from_several_people_each_reach_the_team(
        make_service: ServiceFactory, sink: Sink, routes: str | None) -> None:
    config = webhook_config(sink.url, routes=routes) + ("fallback: [hook]\n" if routes else "")
    service = await make_service(config)
    people = [
        {"user": {"name": "Marie", "email": "marie@example.com", "consent": True}},
        {"user": {"name": "Paul", "email": "paul@example.com", "consent": True}},
        {"user": {"name": "Ana", "phone": "+33 6 12 34 56 78", "consent": True}},
        {"user": {"name": "Li", "phone": "+33 7 00 00 00 01", "consent": True}},
        {},  # anonymous: told apart by the event itself
        {},
    ]
    accepted = await service.accept([contact(id=f"ev-{i}", **p) for i, p in enumerate(people)])
    assert [d.status for a in accepted for d in a.deliveries] == ["pending"] * len(people)
    assert service.worker is not None
    await service.worker.drain()
    names = sorted((r.json()["event"].get("user") or {}).get("name", "anonymous") for r in sink.received)
    assert names == ["Ana", "Li", "Marie", "Paul", "anonymous", "anonymous"]


@pytest.mark.parametrize("routes", [None, FALLBACK_ONLY], ids=["route", "fallback"])
async def test_one_person_asking_twice_is_folded(make_service: ServiceFactory, sink: Sink,
                                                 routes: str | None) -> None:
    config = webhook_config(sink.url, routes=routes) + ("fallback: [hook]\n" if routes else "")
    service = await make_service(config)
    # The same person, written differently from one message to the next.
    first = contact(id="a", user={"name": "Marie", "email": "marie@example.com", "consent": True})
    again = contact(id="b", user={"name": "Marie", "email": " Marie@Example.COM", "consent": True})
    by_phone = [contact(id="c", user={"phone": "+33 6 12 34 56 78"}),
                contact(id="d", user={"phone": "0033 612-345-678"})]
    results = await service.accept([first, again, *by_phone])
    assert [a.deliveries[0].status for a in results] == ["pending", "suppressed", "pending", "suppressed"]


async def test_one_conversation_is_one_person_whatever_the_details(make_service: ServiceFactory,
                                                                   sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    results = await service.accept([
        contact(id="a", conversation_id="c1", user={"email": "marie@example.com"}),
        contact(id="b", conversation_id="c1"),
        contact(id="c", conversation_id="c2", user={"email": "marie@example.com"}),
    ])
    assert [a.deliveries[0].status for a in results] == ["pending", "suppressed", "pending"]


@pytest.mark.parametrize(("first", "second"), [
    # The default key joins site, person and kind with ':'.
    ({"site": "shop", "conversation_id": "a:conversation:b"}, {"site": "shop:conversation:a", "conversation_id": "b"}),
    # A case joins site and person with '|'.
    ({"site": "shop", "conversation_id": "b|conversation:c"}, {"site": "shop|conversation:b", "conversation_id": "c"}),
], ids=["key-colon", "case-bar"])
async def test_a_separator_inside_a_value_folds_no_one(make_service: ServiceFactory, sink: Sink,
                                                     first: dict[str, Any], second: dict[str, Any]) -> None:
    # Two conversations whose site and conversation id, joined, read the same: each person
    # is told apart all the same, and each request opens a case of its own.
    service = await make_service(webhook_config(sink.url))
    results = await service.accept([contact(id="one", **first), contact(id="two", **second)])
    assert [a.deliveries[0].status for a in results] == ["pending", "pending"]
    assert results[0].case is not None and results[1].case is not None
    assert results[0].case["id"] != results[1].case["id"]
    assert service.worker is not None
    await service.worker.drain()
    assert sorted(r.json()["event"]["id"] for r in sink.received) == ["one", "two"]
