"""One-line visitor fields stay one line, and read in the order they were typed.

A visitor's right-to-left override cannot turn around the text the agent reads after it.

U+202E (RIGHT-TO-LEFT OVERRIDE) and its kin (U+202A–U+202E, U+2066–U+2069) make every
character after them display in another order, up to the end of the line. Typed as a
name, "\u202emoc.knab-eurt@troppus " turns the address after it around: an agent reading
"User: … <victim@example.com>" sees another address than the one it is. One-line fields
are followed by the template's own text on the same line (the address, the URL, "à 14:05"),
so those characters are dropped from them in every channel; the message keeps its own
lines, where an override reaches nothing but the visitor's words.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import pytest

from notifier.channels import apprise, email, freshdesk, slack, slack_case, teams, zendesk
from notifier.channels.case_text import action_text
from notifier.config.models import AppriseChannel, EmailChannel, FreshdeskChannel, ZendeskChannel
from notifier.core.digest import excerpt
from notifier.core.events import Event
from tests.channels.samples import context, event, outbound
from tests.channels.test_hostile import _email_channel

#: Every explicit directional formatting character of Unicode's bidirectional algorithm (UAX #9).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
TURNED = "\u202emoc.knab-eurt@troppus "


def turned_event() -> Event:
    return event(site="shop.example.com" + TURNED, conversation_id="c-42" + TURNED,
                 message="Bonjour, je veux un humain.", transcript=[],
                 user={"name": "Marie" + TURNED, "email": "marie@example.com", "phone": "+33 6" + TURNED,
                       "consent": True},
                 page={"url": "https://shop.example.com/orders/1234", "title": "Mes commandes" + TURNED})


def email_text(mail: EmailMessage) -> str:
    parsed = message_from_bytes(mail.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = [f"{k}: {v}" for k, v in parsed.items()]
    for kind in ("plain", "html"):
        body = parsed.get_body((kind,))
        assert isinstance(body, EmailMessage)
        parts.append(str(body.get_content()))
    return "\n".join(parts)


def rendered(channel: str, ev: Event) -> str:
    """Everything ``channel`` sends for ``ev``, as text."""
    ctx, message = context(), outbound(ev)
    out: Any
    if channel == "slack":
        out = slack.message_blocks(message, ctx, "fr")
    elif channel == "teams":
        out = teams.card(message, ctx, "fr")
    elif channel == "email":
        return email_text(_email_channel().compose(message))
    elif channel == "zendesk":
        out = zendesk.create("zd", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                                  api_token="t"), ctx).ticket(message)
        del out["ticket"]["external_id"]  # an identifier to find the ticket again, never shown
    elif channel == "freshdesk":
        out = freshdesk.create("fd", FreshdeskChannel(type="freshdesk", domain="acme", api_key="k"),
                               ctx).ticket(message)
        del out["tags"]  # identifiers for the desk's rules, each shown apart
    else:
        out = apprise.create("ap", AppriseChannel(type="apprise", urls=["json://localhost"]), ctx).render(message)
    return json.dumps(out, ensure_ascii=False)


@pytest.mark.parametrize("channel", ["slack", "teams", "email", "zendesk", "freshdesk", "apprise"])
def test_an_override_in_a_one_line_field_reaches_no_channel(channel: str) -> None:
    text = rendered(channel, turned_event())
    assert "Marie" in text and "moc.knab-eurt@troppus" in text  # the name is shown, as typed
    assert not set(text) & set(BIDI), [hex(ord(c)) for c in text if c in BIDI]


FORGED = "\r\nPriorit\u00e9 : URGENTE\nPriority: URGENT"


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("field", ["conversation_id", "tool"])
def test_a_conversation_id_or_tool_name_cannot_add_a_row_to_the_email(locale: str, field: str) -> None:
    """The text email is rows of "Label : value"; a conversation id passed on from the browser
    or a tool's name with a line break must not forge one (a priority the request does not have)."""
    changes: dict[str, Any] = {"conversation_id": "c-42" + FORGED} if field == "conversation_id" else {
        "kind": "tool_call", "tool": {"name": "c-42" + FORGED, "arguments": {}}}
    ev = event(priority="low", **changes)
    channel = email.create("mail", EmailChannel(type="email", to=["support@example.com"], locale=locale),
                           context())
    text = email_text(channel.compose(outbound(ev)))
    assert not [line for line in text.splitlines() if line.startswith(("Priorité :", "Priority:"))]
    assert "c-42 Priorit" in text


def test_an_override_in_the_name_of_whoever_acted_turns_nothing_around() -> None:
    at = datetime(2024, 5, 14, 12, 5, tzinfo=UTC)
    said = [action_text("claim", "Marie" + TURNED, "email", at, "fr", "Europe/Paris"),
            slack_case.reply_text("claim", "Marie" + TURNED, "email", at, None, "fr", "Europe/Paris")]
    for line in said:
        assert "Marie" in line and not set(line) & set(BIDI), line


def test_an_override_in_a_question_stays_out_of_the_digest() -> None:
    assert excerpt("Où est ma commande ? " + TURNED) == "Où est ma commande ? moc.knab-eurt@troppus"


@pytest.mark.parametrize("channel", ["slack", "teams", "email", "zendesk", "freshdesk", "apprise"])
def test_an_event_id_is_one_path_segment_of_the_event_link(channel: str) -> None:
    """The id is the client's key, any text: the "open" link must lead to that event."""
    odd = "x|Voir> <!channel> ../../v1/deliveries?status=dead#top"
    text = rendered(channel, event(id=odd))
    link = "https://notifier.example.com/v1/events/" + quote(odd, safe="")
    if channel == "email":
        text = text.replace("=\n", "")
    assert link in text.replace("&amp;", "&"), text
