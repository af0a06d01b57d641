"""An escalation says so on every channel: which step, and how long the case has waited."""

from __future__ import annotations

import json

from notifier.channels import slack, teams
from notifier.core.events import Priority
from notifier.render import Renderer, view
from tests.channels.samples import context, event, outbound


def escalation(**labels: str) -> object:
    ev = event().model_copy(update={"labels": {"escalation": "2", "waited": "1h15m",
                                               "escalated_case": "c41d", **labels}})
    return outbound(ev, route="escalation", priority=Priority.high)


def test_slack_and_teams_titles_say_it_is_an_escalation() -> None:
    blocks, _ = slack.message_blocks(escalation(), context(), "fr")  # type: ignore[arg-type]
    assert blocks[0]["text"]["text"].startswith("Escalade 2 : en attente depuis 1h15m · ")
    card = teams.card(escalation(), context(), "en")  # type: ignore[arg-type]
    assert "Escalation 2: waiting for 1h15m · " in json.dumps(card, ensure_ascii=False)


def test_template_channels_say_it_too() -> None:
    v = view(escalation(), context().defaults, "fr")  # type: ignore[arg-type]
    title = Renderer().render("apprise", "title", "fr", "txt", v)
    assert title.startswith("[Escalade 2 : en attente depuis 1h15m] ")
    subject = Renderer().render("zendesk", "subject", "en", "txt", view(escalation(), context().defaults, "en"))  # type: ignore[arg-type]
    assert subject.startswith("[Escalation 2: waiting for 1h15m] ")


def test_an_ordinary_delivery_with_such_labels_is_no_escalation() -> None:
    # Labels come from the visitor's event: only the escalation route makes an escalation.
    ordinary = outbound(event().model_copy(update={"labels": {"escalation": "9", "waited": "1y"}}))
    blocks, _ = slack.message_blocks(ordinary, context(), "fr")
    assert "Escalade" not in blocks[0]["text"]["text"]
