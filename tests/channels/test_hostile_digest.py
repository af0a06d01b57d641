"""The digest quotes visitors (top questions, request excerpts, sites): inert in every form too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import pytest

from notifier.channels import slack, teams
from notifier.channels.base import Report
from notifier.config.loader import parse_config
from notifier.config.models import Config
from notifier.core.digest import DigestStats, Health, Period, SupportItem, Totals
from notifier.core.questions import QuestionGroup
from notifier.digest.report import build_report
from notifier.render import Renderer
from tests.channels.test_hostile import HOSTILE, assert_html_inert

CONFIG = """
version: 1
defaults: {timezone: Europe/Paris, locale: fr, event_url: "https://notifier.example.com/v1/events/{id}"}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [hook]
    sections: [totals, top_questions, support_requests, peak_hours]
"""
#: Marks visitor text, so that a test can see where it lands.
MARK = "VISITOR"
_START = datetime(2024, 5, 14, tzinfo=UTC)


@lru_cache(maxsize=2)
def _config(locale: str) -> Config:
    return parse_config(CONFIG.replace("locale: fr", f"locale: {locale}"), "channels.yaml")


def report(text: str, locale: str) -> Report:
    config = _config(locale)
    digest = config.digests[0]
    words = MARK + text
    stats = DigestStats(
        start=_START, end=_START + timedelta(days=1), totals=Totals(3, 9, 2, 1, 1), previous=None,
        hourly=[1] * 24, questions=[QuestionGroup("k", 4, words)],
        support=[SupportItem("evt-1", "support_request", words, _START + timedelta(hours=9), words)],
        support_total=1, health=Health(), site=None)
    period = Period(_START, _START + timedelta(days=1), _START + timedelta(days=1, hours=8), _START - timedelta(days=1))
    return build_report(Renderer(), config, digest, period, stats)


@lru_cache(maxsize=2)
def _base(locale: str) -> Report:
    return report("Bonjour\nMerci", locale)


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("text", HOSTILE[:19], ids=lambda t: repr(t[:24]))
def test_hostile_questions_stay_inert_in_every_form(text: str, locale: str) -> None:
    rep = report(text, locale)
    base = _base(locale)

    # Slack: visitor text only through slack_mrkdwn (no "<", formatting made inert), our
    # links only to events; the whole within Slack's total.
    blocks, _ = slack.report_blocks(rep)
    for obj in _walk(blocks):
        if obj.get("type") == "mrkdwn":
            ours = re.sub(r"<https://notifier\.example\.com/v1/events/evt-1\|[^<>]*>", "", obj["text"])
            assert "<" not in ours and ">" not in ours
            for line in ours.splitlines():
                if MARK in line:
                    visitor = line[line.index(MARK):]
                    assert not re.search(r"[*_~`]", visitor.split(" — *")[0]), visitor
            assert not re.search(r"@(?!\u2060)(everyone|here|channel)\b", obj["text"], re.IGNORECASE)
    assert slack.text_size(blocks) <= slack.MAX_TOTAL_TEXT

    # Teams: visitor text never in a TextBlock or a Fact (Markdown), only in TextRuns.
    card = teams.report_card(rep)
    for item in _walk(card):
        if item.get("type") == "TextBlock":
            assert MARK not in item["text"]
        if item.get("type") == "FactSet":
            assert all(MARK not in f["value"] and MARK not in f["title"] for f in item["facts"])
        if item.get("type") == "Action.OpenUrl":
            assert item["url"].startswith("https://notifier.example.com/v1/events/")
    assert len(teams.wire(teams.envelope(card))) <= teams.MAX_BODY_BYTES

    # Email HTML: no markup of the visitor's (Jinja2 autoescape).
    assert rep.html is not None and base.html is not None
    assert_html_inert(rep.html, base.html)


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_a_long_section_is_cut_between_whole_lines(locale: str) -> None:
    """Escaping makes "&" five characters: ten excerpts of ampersands overflow a section's 3,000.
    The cut keeps whole lines and says "…": never half an entity ("&am") nor half a link
    ("<https://notifier.exampl"), which Slack would show as garbage."""
    config = _config(locale)
    words = MARK + "&" * 139
    stats = DigestStats(
        start=_START, end=_START + timedelta(days=1), totals=Totals(3, 9, 2, 1, 1), previous=None,
        hourly=[1] * 24, questions=[QuestionGroup(f"k{i}", 10 - i, words) for i in range(10)],
        support=[SupportItem(f"evt-{i}", "support_request", "shop.example.com", _START + timedelta(hours=9), words)
                 for i in range(10)],
        support_total=10, health=Health(), site=None)
    period = Period(_START, _START + timedelta(days=1), _START + timedelta(days=1, hours=8), _START - timedelta(days=1))
    blocks, _ = slack.report_blocks(build_report(Renderer(), config, config.digests[0], period, stats))
    sections = [b["text"]["text"] for b in blocks if b.get("type") == "section" and MARK in b["text"]["text"]]
    assert len(sections) == 2
    for text in sections:
        assert len(text) <= 3000
        *lines, last = text.splitlines()
        assert last == "…" and len(lines) > 1
        for line in lines[1:]:  # each a whole item: every entity and link complete
            assert "&amp;" * 139 in line and not re.search(r"&(?!amp;|lt;|gt;)", line), line
            assert line.count("<") == line.count(">"), line


#: An event id is the client's own key (a browser may send it): any text up to 200 characters.
HOSTILE_ID = "x|Voir> <!channel> <https://evil.example/login|Connexion requise ../../? #"


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_an_event_id_is_one_path_segment_of_its_link(locale: str) -> None:
    """The digest links each request as ``<event_url|label>``: an id that closed the link
    would ping the channel and add a link of its own to the team's daily summary."""
    config = _config(locale)
    stats = DigestStats(
        start=_START, end=_START + timedelta(days=1), totals=Totals(3, 9, 2, 1, 1), previous=None,
        hourly=[1] * 24, questions=[], support_total=1, health=Health(), site=None,
        support=[SupportItem(HOSTILE_ID, "support_request", "shop.example.com", _START + timedelta(hours=9),
                             "Bonjour")])
    period = Period(_START, _START + timedelta(days=1), _START + timedelta(days=1, hours=8), _START - timedelta(days=1))
    rep = build_report(Renderer(), config, config.digests[0], period, stats)
    link = "https://notifier.example.com/v1/events/" + quote(HOSTILE_ID, safe="")
    blocks, _ = slack.report_blocks(rep)
    [line] = [obj["text"].splitlines()[1] for obj in _walk(blocks) if obj.get("type") == "mrkdwn"
              and "Bonjour" in obj["text"]]
    shown = re.fullmatch(r"`11:00` <([^<>|]+)\|[^<>|]+>: Bonjour", line)
    assert shown is not None and shown.group(1) == link, line
    assert rep.html is not None and f'href="{link}"' in rep.html


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_a_site_cannot_add_a_line_to_the_digest(locale: str) -> None:
    """A request's site is the client's word: a line break in it must not forge a row of the
    text digest (here a total of 9999 conversations)."""
    config = _config(locale)
    forged = "shop.example.com\n  Conversations : 9999\n  Total conversations: 9999"
    stats = DigestStats(
        start=_START, end=_START + timedelta(days=1), totals=Totals(3, 9, 2, 1, 1), previous=None,
        hourly=[1] * 24, questions=[], support_total=1, health=Health(), site=None,
        support=[SupportItem("evt-1", "support_request", forged, _START + timedelta(hours=9), "Bonjour")])
    period = Period(_START, _START + timedelta(days=1), _START + timedelta(days=1, hours=8), _START - timedelta(days=1))
    rep = build_report(Renderer(), config, config.digests[0], period, stats)
    assert "9999" in rep.text  # shown, on the request's own line
    assert not [line for line in rep.text.splitlines() if "9999" in line and "Bonjour" not in line]
