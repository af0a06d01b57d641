"""Text that Unicode normalisation expands is accepted, routed and delivered like any other.

U+FDFA folds to 18 letters and spaces: a message of 64,000 of them is over a million letters
once folded for keyword matching and question keys. The API accepts it (it is valid) and
every step after it reads it in one pass or reads only the start it needs.
"""

from __future__ import annotations

from notifier.core.events import LIMITS, Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

WIDE = "\ufdfa"


def _fill(field: str) -> str:
    return WIDE * LIMITS[field]


async def test_a_message_of_expanding_text_is_routed_by_its_last_word_and_delivered(
        make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(webhook_config(sink.url))
    message = WIDE * (LIMITS["message"] - len(" urgent")) + " urgent"
    keyworded = Event.model_validate({"id": "ev-words", "kind": "message", "role": "user", "site": "shop.example.com",
                                      "conversation_id": "c1", "message": message})
    every_field = Event.model_validate({
        "id": "ev-fields", "kind": "support_request", "site": _fill("site"),
        "conversation_id": _fill("conversation_id"),
        "message": _fill("message"), "user": {"name": _fill("user.name"), "consent": True},
        "page": {"title": _fill("page.title")}, "transcript": [{"role": "user", "text": _fill("transcript.text")}],
        "labels": {WIDE * LIMITS["labels.key"]: _fill("labels.value")}})
    accepted = await service.accept([keyworded, every_field])
    assert [[d.route for d in a.deliveries] for a in accepted] == [["keywords"], ["handoff"]]
    assert service.worker is not None
    assert (await service.worker.drain()).sent == 2
    bodies = {r.json()["event"]["id"]: r.json() for r in sink.received}
    assert bodies["ev-words"]["event"]["message"] == message
    assert bodies["ev-words"]["keywords"] == ["urgent"]
    assert bodies["ev-fields"]["event"]["user"]["name"] == _fill("user.name")
