"""Dedup decisions: a repeat inside the window is held back and announced with the next send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.core.dedup import DedupState, check_key_template, decide, render_key
from notifier.core.events import Event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def test_the_first_event_of_a_key_is_sent_and_opens_a_window() -> None:
    d = decide(None, T0, WINDOW)
    assert (d.send, d.folded) == (True, 0)
    assert d.state == DedupState(window_until=T0 + WINDOW, suppressed=0)


def test_repeats_inside_the_window_are_held_back_and_counted() -> None:
    state = decide(None, T0, WINDOW).state
    state = DedupState(state.window_until, state.suppressed, first_delivery_id="d-1")
    for n in (1, 2, 3):
        d = decide(state, T0 + timedelta(minutes=n), WINDOW)
        assert d.send is False
        assert d.state.suppressed == n
        # The window does not slide: it is measured from the event that was sent.
        assert d.state.window_until == T0 + WINDOW
        # Follow-ups thread under the first delivery.
        assert d.state.first_delivery_id == "d-1"
        state = d.state


def test_the_first_event_after_the_window_is_sent_and_says_how_many_were_folded() -> None:
    state = DedupState(window_until=T0 + WINDOW, suppressed=3, first_delivery_id="d-1")
    d = decide(state, T0 + WINDOW, WINDOW)  # the window is half-open: its end is outside it
    assert (d.send, d.folded) == (True, 3)
    assert d.state == DedupState(window_until=T0 + 2 * WINDOW, suppressed=0)


def test_a_zero_window_turns_dedup_off() -> None:
    state = DedupState(window_until=T0 + WINDOW, suppressed=2)
    d = decide(state, T0, timedelta(0))
    assert (d.send, d.folded) == (True, 0)


def _event(**fields: object) -> Event:
    base: dict[str, object] = {"kind": "support_request", "site": "shop", "conversation_id": "c42"}
    return Event.model_validate(base | fields)


def test_keys_separate_routes_and_conversations() -> None:
    template = "{site}:{conversation_id}:{kind}"
    assert render_key(template, _event(), "handoff") == "handoff|shop:c42:support_request"
    assert render_key(template, _event(), "urgent") != render_key(template, _event(), "handoff")
    assert render_key(template, _event(conversation_id="c43"), "handoff") != render_key(template, _event(), "handoff")


def test_keys_may_use_labels_and_a_missing_label_is_empty() -> None:
    template = "{site}:{labels[team]}"
    assert render_key(template, _event(labels={"team": "billing"}), "r") == "r|shop:billing"
    assert render_key(template, _event(), "r") == "r|shop:"


@pytest.mark.parametrize("template", ["{site}:{conversation}", "{nope}", "{site"])
def test_a_key_template_with_an_unknown_field_is_refused(template: str) -> None:
    with pytest.raises(ValueError, match="key template"):
        check_key_template(template)


def test_person_is_the_conversation_else_the_email_else_the_phone_else_the_event() -> None:
    from notifier.core.dedup import person

    assert person(_event(user={"email": "a@example.com"})) == "conversation:c42"
    assert person(_event(conversation_id=None, user={"email": " A@Example.COM ", "phone": "1"})) == \
        "email:a@example.com"
    for written in ("+33 6 12 34 56 78", "0033 (6) 12-34-56-78", "+33.612.345.678"):
        assert person(_event(conversation_id=None, user={"phone": written})) == "phone:+33612345678"
    assert person(_event(conversation_id=None, id="e9", user={"name": "Marie"})) == "event:e9"


def test_the_default_key_of_two_people_without_conversation_differs() -> None:
    from notifier.config.models import Dedup

    key = Dedup().key
    a = _event(conversation_id=None, id="1", user={"email": "a@example.com"})
    b = _event(conversation_id=None, id="2", user={"email": "b@example.com"})
    assert render_key(key, a, "r") != render_key(key, b, "r")
    assert render_key(key, a, "r") == render_key(key, a.model_copy(update={"id": "3"}), "r")


def test_a_key_encodes_the_separators_of_each_value_it_names() -> None:
    event = _event(message="a:b", labels={"team": "x:y", "other": "z"})
    assert render_key("{site}:{message}", event, "r") == "r|shop:a%3Ab"
    assert render_key("{site}:{labels[team]}", event, "r") == "r|shop:x%3Ay"
    assert render_key("{labels}", event, "r") == "r|" + str({"team": "x:y", "other": "z"})
