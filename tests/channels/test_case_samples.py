"""``docs/samples/case-*``: the email and the Teams card in each state of a case, generated here.

The alert of an open case (with its signed "Je m'en occupe / I'm on it" and "Résolu /
Resolved" links), the reply in the email thread and the Teams card after a claim and after
a resolution, and the confirmation page a link opens. ``case-states.md`` shows how each
reads. Run ``NOTIFIER_WRITE_SAMPLES=1 pytest tests/channels/test_case_samples.py`` to write
them again after a change; otherwise this test fails when they are out of date.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.action_links import ActionLinks
from notifier.api import create_app
from notifier.channels import email, teams
from notifier.config.models import EmailChannel, TeamsChannel
from notifier.core.cases import Action
from notifier.core.follow_up import CaseState, FollowUp, Target
from tests.channels.fakes import teams_envelope_errors
from tests.channels.samples import context, outbound
from tests.conftest import ServiceFactory

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
BASE = "https://notifier.example.com"
SENT_AT = datetime(2024, 5, 14, 12, 3, tzinfo=UTC)  # 14:03 in Paris
CLAIMED_AT = datetime(2024, 5, 14, 12, 5, tzinfo=UTC)
RESOLVED_AT = datetime(2024, 5, 14, 12, 40, tzinfo=UTC)
SECRET = "sample-secret-not-for-production-0123456789"
OPEN = CaseState(id="3f2a9c1e7b6d4e0f8a5c2b1d9e7f6a3c", status="open")
CLAIMED = replace(OPEN, status="claimed", claimed_by="Marie", claimed_at=CLAIMED_AT)
RESOLVED = replace(CLAIMED, status="resolved", resolved_by="Marie", resolved_at=RESOLVED_AT,
                   note="Colis retrouvé, renvoyé aujourd'hui")
ALERT_ID = "<0f3c9a6e2b7d4c1a8e5f9b2d6a4c8e1f@votresite.com>"


def ctx(locale: str) -> Any:
    links = ActionLinks(SECRET, BASE, timedelta(days=7))
    return replace(context(locale=locale), links=links, clock=lambda: SENT_AT)


def follow_up(action: Action, case: CaseState, at: datetime, note: str | None = None) -> FollowUp:
    alert = outbound(case=OPEN)
    return FollowUp(delivery_id=f"follow-up-{action}", channel="support", case=case, action=action, actor="Marie",
                    via="email", at=at, note=note, targets=(Target(alert.delivery_id, alert, ALERT_ID, ALERT_ID),))


def write_or_compare(name: str, text: str) -> None:
    path = SAMPLES / name
    if os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} is out of date: run with NOTIFIER_WRITE_SAMPLES=1"


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return str(plain.get_content()), str(html.get_content())


def headers(msg: EmailMessage) -> str:
    return "\n".join(f"{k}: {msg[k]}" for k in ("Subject", "In-Reply-To", "References") if msg[k])


def card_text(card: dict[str, Any]) -> str:
    """How a card reads, roughly, as text."""
    lines = []
    for block in card["body"]:
        if block["type"] == "TextBlock":
            lines.append(f"**{block['text']}**" if block.get("weight") == "Bolder" else block["text"])
        elif block["type"] == "RichTextBlock":
            lines.append("".join(run if isinstance(run, str) else run["text"] for run in block["inlines"]))
    lines.append("  ".join(f"[ {a['title']} ]" for a in card.get("actions", [])))
    return "\n".join(lines)


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_email_and_teams_samples(locale: str) -> None:
    mail = email.create("support-email", EmailChannel.model_validate(
        {"type": "email", "to": ["support@votresite.com"], "from": "Chatbot <no-reply@votresite.com>",
         "locale": locale}), ctx(locale))
    card_channel = teams.create("teams", TeamsChannel(type="teams", url="https://example.invalid/flow",
                                                      locale=locale), ctx(locale))
    doc = [f"## {locale}\n"]
    states = [("open", outbound(case=OPEN), None),
              ("claimed", None, follow_up("claim", CLAIMED, CLAIMED_AT)),
              ("resolved", None, follow_up("resolve", RESOLVED, RESOLVED_AT, "Colis retrouvé, renvoyé aujourd'hui"))]
    for state, alert, told in states:
        msg = mail.compose(alert) if alert else mail.compose_follow_up(told)  # type: ignore[arg-type]
        text, html = parts(msg)
        write_or_compare(f"case-email-{state}-{locale}.txt", f"{headers(msg)}\n\n{text}")
        write_or_compare(f"case-email-{state}-{locale}.html", html)
        body = card_channel.body(alert) if alert else teams.envelope(
            teams.follow_up_card(told, card_channel.ctx, locale))  # type: ignore[arg-type]
        assert teams_envelope_errors(body) == []
        write_or_compare(f"case-teams-{state}-{locale}.json", json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        card = body["attachments"][0]["content"]
        doc += [f"### {state}: {'the alert' if alert else 'the follow-up'}\n",
                f"Email ([text](case-email-{state}-{locale}.txt), [HTML](case-email-{state}-{locale}.html)):\n",
                "```\n" + re.sub(r"\?t=[\w.-]+", "?t=…", f"{headers(msg)}\n\n{text}").strip() + "\n```\n",
                f"Teams ([card](case-teams-{state}-{locale}.json)):\n",
                "```\n" + re.sub(r"\?t=[\w.-]+", "?t=…", card_text(card)).strip() + "\n```\n"]
    write_or_compare(f"case-states-{locale}.md", "\n".join(doc))
    # The open alert carries both links; once claimed only "Resolved" is left; once resolved, none.
    open_text = (SAMPLES / f"case-email-open-{locale}.txt").read_text(encoding="utf-8")
    assert open_text.count(f"{BASE}/v1/cases/{OPEN.id}/act?t=") == 2
    assert (SAMPLES / f"case-email-claimed-{locale}.txt").read_text(encoding="utf-8").count("/act?t=") == 1
    assert "/act?t=" not in (SAMPLES / f"case-email-resolved-{locale}.txt").read_text(encoding="utf-8")


async def test_confirmation_page_samples(make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service = await make_service(f"""version: 1
defaults: {{timezone: Europe/Paris, public_url: {BASE}}}
action_links: {{secret: {SECRET}}}
""", clock=lambda: SENT_AT)
    [accepted] = await service.accept([outbound().event.model_copy(update={"id": "evt-sample"})], now=SENT_AT)
    assert accepted.case is not None
    case_id = accepted.case["id"]
    links = ActionLinks(SECRET, BASE, timedelta(days=7))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        for locale in ("fr", "en"):
            page = await client.get(links.url(case_id, "claim", SENT_AT, via="email").removeprefix(BASE),
                                    headers={"Accept-Language": locale})
            assert page.status_code == 200
            # The case id and its token change with each run: the sample shows fixed ones.
            html = page.text.replace(case_id, OPEN.id)
            html = re.sub(r'name="t" value="[^"]+"', 'name="t" value="…"', html)
            write_or_compare(f"case-page-claim-{locale}.html", html)
