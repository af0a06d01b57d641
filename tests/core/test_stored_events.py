"""Events read back from the store: the worker's fast load keeps the NUL replacement."""

import orjson
import pytest
from pydantic import ValidationError

from notifier.core.events import Event

STORED = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c1", "id": "ev1",
          "message": "Bonjour", "labels": {"plan": "pro"}}


def test_an_old_stored_event_with_nul_is_loaded_with_the_replacement_character() -> None:
    # Stored before NULs were replaced at the door (SQLite keeps them): JSON escapes them.
    text = orjson.dumps({**STORED, "message": "ma\x00commande", "labels": {"pl\x00n": "pro"}})
    assert b"\\u0000" in text
    for body in (text, text.decode()):
        event = Event.from_stored_json(body)
        assert event.message == "ma\ufffdcommande"
        assert event.labels == {"pl\ufffdn": "pro"}


def test_a_nul_free_stored_event_loads_as_full_validation_does() -> None:
    text = orjson.dumps({**STORED, "message": "a backslash \\u0000 typed as text"})
    assert Event.from_stored_json(text) == Event.model_validate_json(text)
    assert Event.from_stored_json(text).message == "a backslash \\u0000 typed as text"


FULL = {**STORED, "occurred_at": "2026-03-01T10:00:00+02:00", "role": "user", "locale": "fr-FR",
        "user": {"name": "Ana", "email": "ana@example.com", "consent": True},
        "page": {"url": "https://shop.example.com/cart", "title": "Panier"},
        "transcript": [{"role": "user", "text": "hello", "at": "2026-03-01T09:59:00"}], "priority": "high"}
TOOL_CALL = {"kind": "tool_call", "id": "t1", "site": "shop.example.com",
             "tool": {"name": "send_support_email",
                      "arguments": {"name": "Ana", "email": "ana@example.com", "consent": True, "message": "help"}}}


@pytest.mark.parametrize("stored", [
    STORED, FULL, TOOL_CALL,
    {"kind": "feedback", "id": "f1", "rating": 4.0},
    {**STORED, "occurred_at": "2026-03-01T10:00:00"},  # naive: taken as UTC
    {**STORED, "message": 'a "tool_call" mentioned in the text'},
], ids=["minimal", "full", "tool_call", "feedback", "naive_time", "tool_call_in_text"])
def test_a_stored_event_loads_exactly_as_full_validation_does(stored: dict[str, object]) -> None:
    # The worker's load skips the model's wrap validator when it has nothing to do: the
    # event it gets must be the one full validation gives, field for field.
    text = orjson.dumps(stored)
    for body in (text, text.decode()):
        loaded = Event.from_stored_json(body)
        full = Event.model_validate_json(body)
        assert loaded == full
        assert loaded.model_dump_json(exclude_none=True) == full.model_dump_json(exclude_none=True)
    if stored is TOOL_CALL:  # the arguments filled the event's own fields
        assert loaded.user is not None and loaded.user.email == "ana@example.com" and loaded.message == "help"


@pytest.mark.parametrize("stored", [
    {**STORED, "message": "x" * 64_001},                       # stored before today's limits
    {**STORED, "surprise": 1},                                  # a field this version does not know
    {**STORED, "rating": 3},                                    # a rating outside feedback
    {**STORED, "occurred_at": "1900-01-01T00:00:00Z"},
    {**TOOL_CALL, "tool": {"name": "send_support_email", "arguments": {"email": "x" * 400}}},
], ids=["too_long", "unknown_field", "rating", "old_time", "tool_argument_too_long"])
def test_an_unreadable_stored_event_fails_as_full_validation_does(stored: dict[str, object]) -> None:
    text = orjson.dumps(stored)
    with pytest.raises(ValidationError) as fast:
        Event.from_stored_json(text)
    with pytest.raises(ValidationError) as full:
        Event.model_validate_json(text)
    # Same errors, same places: a tool call's filled field is named after its argument.
    assert fast.value.errors(include_context=False) == full.value.errors(include_context=False)
    assert str(fast.value) == str(full.value)


@pytest.mark.parametrize("stored", [STORED, FULL, TOOL_CALL, {"kind": "feedback", "id": "f1", "rating": 4.0}],
                         ids=["minimal", "full", "tool_call", "feedback"])
def test_an_event_stored_as_json_data_loads_as_full_validation_does(stored: dict[str, object]) -> None:
    # PostgreSQL hands the body back as data (jsonb), which cannot hold a NUL.
    data = orjson.loads(orjson.dumps(stored))
    assert Event.from_stored_data(data) == Event.model_validate(data)


def test_unreadable_stored_data_fails_as_full_validation_does() -> None:
    for stored in ({**STORED, "message": "x" * 64_001},
                   {**TOOL_CALL, "tool": {"name": "send_support_email", "arguments": {"email": "x" * 400}}}):
        with pytest.raises(ValidationError) as fast:
            Event.from_stored_data(stored)
        with pytest.raises(ValidationError) as full:
            Event.model_validate(stored)
        assert str(fast.value) == str(full.value)
