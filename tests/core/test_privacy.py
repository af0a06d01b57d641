"""A channel's view of an event under its data policy (pure, no channel involved)."""
from __future__ import annotations

from notifier.core.events import Event
from notifier.core.privacy import for_channel


def tool_call() -> Event:
    return Event.model_validate({
        "kind": "tool_call", "site": "shop.example.com",
        "tool": {"name": "send_support_email",
                 "arguments": {"name": "Marie", "email": "marie@example.com", "phone": "06 12 34 56 78",
                               "message": "Rappelez-moi au 06 12 34 56 78",
                               "details": {"notes": ["IBAN FR76 3000 6000 0112 3456 7890 189"]}}},
        "user": {"ip": "203.0.113.7", "consent": True}})


def test_left_out_fields_do_not_come_back_through_tool_arguments() -> None:
    seen = for_channel(tool_call(), ["message"], ["phone", "iban"])
    assert seen.tool is not None
    assert seen.tool.arguments == {"message": "Rappelez-moi au [téléphone]",
                                   "details": {"notes": ["IBAN [iban]"]}}
    assert seen.user is not None and seen.user.ip is None and seen.user.email is None
    assert seen.message == "Rappelez-moi au [téléphone]"  # filled from the tool's message argument


def test_no_policy_is_the_event_itself() -> None:
    event = tool_call()
    assert for_channel(event, None, []) is event


def test_english_placeholders_follow_the_channel_locale() -> None:
    seen = for_channel(tool_call(), None, ["phone"], "en")
    assert seen.message == "Rappelez-moi au [phone]"
    assert seen.user is not None and seen.user.email == "marie@example.com"  # included by default
