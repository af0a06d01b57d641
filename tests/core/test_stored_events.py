"""Events read back from the store: the worker's fast load keeps the NUL replacement."""

import orjson

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
