"""A cut to a service's limit keeps each user-perceived character whole.

Visitor text is cut in many places (a ticket's subject, Slack's notification text, a card's
page title…). Cutting between code points can split what reads as one character: a flag
becomes a lone letter symbol (🇫🇷 -> 🇫), a keycap loses its frame, a family emoji falls
apart, "é" typed as e + U+0301 loses its accent, a Korean syllable typed as jamo breaks.
"""

from __future__ import annotations

import json

import pytest
import regex

from notifier.channels import freshdesk, slack, teams, zendesk
from notifier.channels.limits import cut_to, shorten, utf8_size
from notifier.config.models import FreshdeskChannel, ZendeskChannel
from notifier.core.digest import excerpt
from tests.channels.samples import context, event, outbound

UNITS = {"flag": "🇫🇷", "keycap": "1\ufe0f\u20e3", "family": "👩\u200d👩\u200d👧", "accent": "e\u0301",
         "skin tone": "👍🏽", "jamo": "\u1100\u1161\u11a8", "crlf": "\r\n"}


def whole(kept: str, unit: str) -> bool:
    """Whether ``kept`` is a run of whole ``unit``s."""
    return kept == unit * (len(kept) // len(unit))


@pytest.mark.parametrize("unit", UNITS.values(), ids=UNITS.keys())
def test_cut_to_and_shorten_keep_graphemes_whole(unit: str) -> None:
    text = unit * 50
    for limit in range(1, 60):
        for size in (len, utf8_size):
            kept, left = cut_to(text, limit, size)
            assert whole(kept, unit) and len(kept) + left == len(text), (limit, kept)
        short = shorten(text, limit)
        assert len(short) <= limit and whole(short.removesuffix("…"), unit), (limit, short)


@pytest.mark.parametrize("unit", [u for k, u in UNITS.items() if k != "crlf"],
                         ids=[k for k in UNITS if k != "crlf"])
def test_a_digest_question_ends_on_a_whole_character(unit: str) -> None:
    for extra in range(len(unit)):
        shown = excerpt("x" * extra + unit * 200)
        assert shown.endswith("…") and whole(shown.removesuffix("…").removeprefix("x" * extra), unit), shown[-8:]


def visitor_part(text: str) -> str:
    """What follows the template's "… — site: " in a subject or a notification text."""
    return text.rsplit(": ", 1)[1].removesuffix("…")


@pytest.mark.parametrize("unit", [u for k, u in UNITS.items() if k != "crlf"],
                         ids=[k for k in UNITS if k != "crlf"])
def test_subjects_and_titles_end_on_a_whole_character(unit: str) -> None:
    ctx = context()
    # Each length puts the cut at another point inside the unit.
    for extra in range(len(unit)):
        ev = event(message="x" * extra + unit * 400, page={"url": "https://shop.example.com/p",
                                                           "title": "x" * extra + unit * 400})
        message = outbound(ev)
        desk = zendesk.create("zd", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                                   api_token="t"), ctx).ticket(message)["ticket"]
        fd = freshdesk.create("fd", FreshdeskChannel(type="freshdesk", domain="acme", api_key="k"),
                              ctx).ticket(message)
        blocks, text = slack.message_blocks(message, ctx, "fr")
        for shown in (desk["subject"], fd["subject"], text):
            assert whole(visitor_part(shown).removeprefix("x" * extra), unit), shown[-20:]
        # The page title's fact in Slack and Teams (500 characters at most).
        slack_title = next(e["text"] for e in _walk(blocks) if e.get("type") == "text"
                           and e["text"].startswith("x" * extra + unit))
        card = json.dumps(teams.card(message, ctx, "fr"), ensure_ascii=False)
        teams_title = next(r["text"] for r in _walk(json.loads(card)) if r.get("type") == "TextRun"
                           and r["text"].startswith("x" * extra + unit))
        for title in (slack_title, teams_title):
            assert whole(title.strip().removesuffix("…").removeprefix("x" * extra), unit), title[-20:]
            assert regex.fullmatch(r"\X*", title)


def _walk(value: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(value, dict):
        found.append(value)
        for v in value.values():
            found += _walk(v)
    elif isinstance(value, list):
        for v in value:
            found += _walk(v)
    return found
