"""Teams: the Workflows envelope and the Adaptive Card, against a fake Workflows webhook."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.channels import teams
from notifier.channels.base import Report
from notifier.config.models import TeamsChannel
from tests.channels.fakes import FakeTeams, Reply, teams_envelope_errors
from tests.channels.samples import context, event, outbound

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


@pytest.fixture
def fake() -> Iterator[FakeTeams]:
    with FakeTeams() as server:
        yield server  # type: ignore[misc]


def channel_for(url: str, **ctx: Any) -> teams.Teams:
    return teams.create("teams", TeamsChannel(type="teams", url=url), context(**ctx))


def facts(card: dict[str, Any]) -> dict[str, str]:
    """The "Label: value" lines of the card (RichTextBlocks whose first run is a bold label)."""
    out = {}
    for item in card["body"]:
        runs = item.get("inlines") or []
        if item["type"] == "RichTextBlock" and runs and runs[0].get("weight") == "Bolder" \
                and runs[0]["text"].endswith(": ") and item.get("spacing") == "None":
            out[runs[0]["text"][:-2]] = "".join(r["text"] for r in runs[1:])
    return out


def texts(card: dict[str, Any]) -> list[str]:
    return [item.get("text") or "".join(r["text"] for r in item.get("inlines", [])) for item in card["body"]]


async def test_card_in_the_workflows_envelope_is_accepted(fake: FakeTeams) -> None:
    channel = channel_for(fake.workflow_url)
    result = await channel.send(outbound(folded=2))
    await channel.aclose()

    assert result.ok, result.reason
    assert result.ref == result.label == "accepted"  # queued by the flow, not seen delivered
    body = fake.requests[0].json()
    assert body["type"] == "message" and body["attachments"][0]["contentUrl"] is None
    card = fake.cards[0]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Demande de support · Priorité haute"
    assert facts(card) == {"Site": "shop.example.com",
                           "Page": "Mes commandes https://shop.example.com/orders/1234",
                           "Heure": "14/05/2024 14:03 (Europe/Paris)",
                           "Utilisateur": "Marie Dupont <marie@example.com> +33 6 12 34 56 78"}
    shown = texts(card)
    assert any(t.startswith("Bonjour, ma commande") for t in shown)
    assert "+2 similaires regroupés" in shown
    assert any("Elle a été expédiée" in t for t in shown)
    assert fake.runs[-1].status == "Succeeded"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Ouvrir",
                                "url": "https://notifier.example.com/v1/events/evt-0001"}]


async def test_without_consent_or_event_link(fake: FakeTeams) -> None:
    channel = channel_for(fake.workflow_url, event_url=None)
    ev = event(user={"name": "Marie Dupont", "email": "marie@example.com", "consent": False})
    assert (await channel.send(outbound(ev))).ok
    await channel.aclose()
    card = fake.cards[0]
    assert "Utilisateur" not in facts(card) and "marie" not in json.dumps(card)
    assert card["actions"][0]["url"] == "https://shop.example.com/orders/1234"  # the page instead


async def test_refused_card_is_permanent_with_the_flow_error(fake: FakeTeams) -> None:
    fake.script(Reply(400, {"error": {"code": "TriggerInputSchemaMismatch", "message": "bad card"}}))
    channel = channel_for(fake.workflow_url)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "permanent"
    assert "TriggerInputSchemaMismatch bad card" in result.reason and fake.sig not in result.reason


async def test_wrong_signature_is_permanent_and_secret(fake: FakeTeams) -> None:
    channel = channel_for(fake.workflow_url.replace(fake.sig, "wrong-signature-value"))
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "permanent" and result.label == "auth"
    assert "DirectApiAuthorizationRequired" in result.reason and "wrong-signature-value" not in result.reason


@pytest.mark.parametrize("unit", ["x", "😀", "字", "e\u0301", "\"\\\u0001"])
async def test_long_message_stays_under_the_size_limit_in_bytes(fake: FakeTeams, unit: str) -> None:
    """Emoji and CJK weigh 3-4 bytes, JSON escapes up to 6: the card is measured on the wire."""
    channel = channel_for(fake.workflow_url)
    turns = [{"role": "user", "text": unit * 3000} for _ in range(6)]
    # 30,000 characters: well beyond the card's limit, within what the API accepts (64,000)
    message = unit * (30_000 // len(unit))
    assert (await channel.send(outbound(event(message=message, transcript=turns)))).ok
    await channel.aclose()
    assert len(fake.requests[0].body) <= teams.MAX_BODY_BYTES
    assert fake.runs[-1].status == "Succeeded", fake.runs[-1].error
    runs = fake.cards[0]["body"][5]["inlines"]  # the message: cut, said so, linked to the event
    kept = runs[0]["text"]
    assert kept == message[: len(kept)]
    if len(unit) == 1 or unit == "e\u0301":  # one grapheme: never split
        assert kept == unit * (len(kept) // len(unit))
    left = int(runs[1]["text"].split("(")[1].split()[0].replace(",", "").replace("\u202f", ""))
    assert len(runs[0]["text"]) + left == len(message)
    assert runs[2]["selectAction"]["url"] == "https://notifier.example.com/v1/events/evt-0001"
    assert len(fake.requests[0].body) > teams.MAX_BODY_BYTES - 2048  # and the room is used


async def test_accepted_is_not_delivered_the_fake_fails_the_run_later(fake: FakeTeams) -> None:
    """A card over 28 KB is still answered 202 by the trigger; only the run history fails."""
    channel = channel_for(fake.workflow_url)
    huge = {"$schema": teams.CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": "字" * 12_000}]}
    result = await channel.send_report(Report(key="d", title="t", text="", card=huge))
    raw = await channel._post(teams.envelope(huge))  # what an unchecked sender would get
    await channel.aclose()
    assert result.ok and fake.runs[0].status == "Succeeded"  # ours was cut to fit
    assert raw.ok and fake.runs[1].status == "Failed" and "RequestEntityTooLarge" in fake.runs[1].error


async def test_digest_as_its_card_or_its_text(fake: FakeTeams) -> None:
    channel = channel_for(fake.workflow_url)
    own_card = {"$schema": teams.CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4",
                "body": [{"type": "TextBlock", "text": "42 conversations"}]}
    assert (await channel.send_report(Report(key="d1", title="Résumé", text="", card=own_card))).ok
    assert (await channel.send_report(Report(key="d2", title="Résumé du jour", text="Total : 42"))).ok
    await channel.aclose()
    assert fake.cards[0] == own_card
    assert fake.cards[1]["body"][1]["inlines"][0]["text"] == "Total : 42"


def test_preview_hides_the_webhook_url(fake: FakeTeams) -> None:
    text = teams.preview(channel_for(fake.workflow_url), outbound())
    assert "AdaptiveCard" in text and fake.sig not in text


def test_sample_card_is_current() -> None:
    """``docs/samples/teams-card.json``: what Teams receives for the fixture event."""
    channel = channel_for("https://prod.westeurope.logic.azure.com/workflows/x?sig=s")
    body = channel.body(outbound(folded=2, keywords=("humain",)))
    rendered = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    path = SAMPLES / "teams-card.json"
    if os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == rendered, "run with NOTIFIER_WRITE_SAMPLES=1 to update"
    assert teams_envelope_errors(body) == []
