"""A tool call's arguments (send_support_email) reach the team as the event's requester, page and message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from notifier.channels import email as email_channel
from notifier.config.models import EmailChannel
from notifier.core.events import Event
from tests.channels.samples import context, outbound

ARGS = {"name": "Marie Dupont", "email": "marie@example.com", "phone": "+33 6 12 34 56 78",
        "message": "Ma commande 1234 n'est jamais arrivée", "page_url": "https://shop.example.com/orders/1234"}


def tool_call(arguments: dict[str, Any], name: str = "send_support_email", **fields: Any) -> Event:
    return Event.model_validate({"kind": "tool_call", "site": "shop.example.com",
                                 "tool": {"name": name, "arguments": arguments}, **fields})


def test_send_support_email_arguments_become_the_requester_page_and_message() -> None:
    ev = tool_call(ARGS)
    assert ev.user is not None
    assert (ev.user.name, ev.user.email, ev.user.phone, ev.user.consent) == \
        ("Marie Dupont", "marie@example.com", "+33 6 12 34 56 78", True)
    assert ev.message == "Ma commande 1234 n'est jamais arrivée"
    assert ev.page is not None and ev.page.url == "https://shop.example.com/orders/1234"
    assert ev.tool is not None and ev.tool.arguments == ARGS, "the original arguments are kept"


def test_the_agent_reads_who_asks_and_can_press_reply() -> None:
    ev = tool_call(ARGS, id="evt-tool", locale="fr")
    channel = email_channel.create("support", EmailChannel(type="email", to=["support@example.com"]), context())
    mail = email_channel.preview(channel, outbound(ev))
    assert "Reply-To: Marie Dupont <marie@example.com>" in mail or "Reply-To: marie@example.com" in mail
    assert "Marie Dupont" in mail.split("\n\n", 1)[1]
    assert "https://shop.example.com/orders/1234" in mail
    assert "page inconnue" not in mail
    assert "Ma commande 1234 n'est jamais arrivée" in mail


def test_fields_the_event_carries_win_and_an_explicit_refusal_of_consent_is_kept() -> None:
    ev = tool_call(ARGS, message="Écrit par le widget", user={"name": "M. D.", "consent": False})
    assert ev.message == "Écrit par le widget"
    assert ev.user is not None
    assert (ev.user.name, ev.user.email, ev.user.consent) == ("M. D.", "marie@example.com", False)
    assert tool_call({**ARGS, "consent": False}).user.consent is False  # type: ignore[union-attr]


def test_other_tools_are_read_too_but_imply_no_consent() -> None:
    ev = tool_call({"email": "paul@example.com", "question": "?"}, name="lookup_order")
    assert ev.user is not None and ev.user.email == "paul@example.com" and ev.user.consent is False
    assert ev.message is None


def test_only_text_arguments_are_read_and_other_kinds_are_left_alone() -> None:
    ev = tool_call({"email": ["a@example.com"], "name": "  ", "message": 3})
    assert ev.user is None and ev.message is None
    other = Event.model_validate({"kind": "support_request", "tool": {"name": "send_support_email",
                                                                     "arguments": {"email": "a@example.com"}}})
    assert other.user is None


def test_a_refused_argument_is_named_as_the_client_sent_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({"kind": "tool_call", "tool": {"name": "send_support_email",
                                                            "arguments": {"name": "Marie"}},
                              "user": {"email": "marie@example.com", "colour": "blue"}})
    [error] = caught.value.errors()
    assert error["loc"] == ("user", "colour")  # the client's own field keeps its name
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({"kind": "tool_call", "tool": {"name": "x", "arguments": {"page_url": "u"}},
                              "page": {"title": 5}})
    assert [e["loc"] for e in caught.value.errors()] == [("page", "title")]


def test_an_error_on_a_field_read_from_an_argument_names_the_argument() -> None:
    # No limit refuses a text argument today; when one does, the client must read the
    # name it sent (tool.arguments.email), not a field it never wrote (user.email).
    from notifier.core.events import _renamed

    with pytest.raises(ValidationError) as caught:
        Event.model_validate({"kind": "tool_call", "user": {"email": 5}, "message": 6})
    renamed = _renamed(caught.value, {("user", "email"): ("tool", "arguments", "email")})
    assert sorted(e["loc"] for e in renamed.errors()) == [("message",), ("tool", "arguments", "email")]
    assert sorted(e["msg"] for e in renamed.errors()) == sorted(e["msg"] for e in caught.value.errors())
