"""Slack: the case on its alert — a state line and the buttons that fit it — and the thread replies.

An alert of a case carries, below the request, the case's state and buttons::

    open, reopened  [Je m'en occupe] [Résolu]
    claimed         ✋ Pris en charge par @marie à 14:05        [Résolu]
    resolved        ✅ Résolu par @marie à 14:30 — note         [Rouvrir]

Each button names the case three times, so a click is understood without any lookup:
``block_id`` ``case:<id>``, ``action_id`` ``case_claim`` / ``case_resolve`` / ``case_reopen``,
``value`` the case id and the round the message shows, ``<id>:<round>`` (Block Kit buttons:
https://docs.slack.dev/reference/block-kit/block-elements/button-element; a ``value`` holds up
to 2,000 characters). A click on an alert of an earlier round changes nothing (see
:mod:`notifier.action_links`); buttons posted before they named a round carry the id alone.
Times are Slack date tokens (``<!date^…^{time}|14:05>``: each reader sees their own time,
https://docs.slack.dev/messaging/formatting-message-text#date-formatting), with the
channel's timezone as fallback text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.channels.inert import header_text, slack_mrkdwn
from notifier.core.cases import Action
from notifier.core.follow_up import CaseState

__all__ = ["ACTION_IDS", "BLOCK_PREFIX", "Words", "button_value", "case_blocks", "mention", "reply_text", "slack_user",
           "words"]

#: ``action_id`` of each case button, and the action it asks for.
ACTION_IDS: dict[str, Action] = {"case_claim": "claim", "case_resolve": "resolve", "case_reopen": "reopen"}
#: The ``block_id`` of a case's buttons is this prefix and the case id.
BLOCK_PREFIX = "case:"
_SLACK_USER = re.compile(r"^slack:([UW][A-Z0-9]{2,})$")


@dataclass(frozen=True)
class Words:
    """What the buttons and state lines say, in one language."""

    claim: str
    resolve: str
    reopen: str
    claimed: str
    resolved: str
    reopened: str
    refused_holder: str
    refused_resolved: str
    earlier_round: str
    not_allowed: str
    unknown_case: str
    unavailable: str
    channel_gone: str


_WORDS = {
    "fr": Words(
        claim="Je m'en occupe", resolve="Résolu", reopen="Rouvrir",
        claimed="✋ Pris en charge par {who} à {time}", resolved="✅ Résolu par {who} à {time}",
        reopened="↩️ Rouvert par {who} à {time}",
        refused_holder="Déjà pris en charge par {who}.", refused_resolved="Déjà résolu par {who} : rouvrez-le d'abord.",
        earlier_round="Cette alerte vient d'une demande précédente de ce dossier ; le dossier a été rouvert depuis : "
                      "rien n'a changé. Utilisez les boutons de l'alerte la plus récente, ou `notifier claim`.",
        not_allowed="Vous n'êtes pas autorisé·e à agir sur ces demandes depuis Slack.",
        unknown_case="Cette demande n'existe plus.",
        unavailable="⚠️ La base de données est momentanément indisponible : rien n'a changé, réessayez dans un instant.",
        channel_gone="Cette alerte a été postée par le canal `{channel}`, qui n'est plus configuré dans notifier : "
                     "rien n'a changé. Agissez depuis la page de la demande{page} ou avec `notifier {action} {case}`.",
    ),
    "en": Words(
        claim="I'm on it", resolve="Resolved", reopen="Reopen",
        claimed="✋ Claimed by {who} at {time}", resolved="✅ Resolved by {who} at {time}",
        reopened="↩️ Reopened by {who} at {time}",
        refused_holder="Already claimed by {who}.", refused_resolved="Already resolved by {who}: reopen it first.",
        earlier_round="This alert is from an earlier request on this case; the case was reopened since: "
                      "nothing changed. Use the buttons of the latest alert, or `notifier claim`.",
        not_allowed="You are not allowed to act on these requests from Slack.",
        unknown_case="This request no longer exists.",
        unavailable="⚠️ The database is unavailable for a moment: nothing changed, try again shortly.",
        channel_gone="This alert was posted by the channel `{channel}`, which is no longer configured in notifier: "
                     "nothing changed. Act from the case's page{page} or with `notifier {action} {case}`.",
    ),
}


def words(locale: str | None) -> Words:
    """The words of ``locale`` (``fr``, ``en``; English for any other)."""
    lang = (locale or "fr").split("-")[0].split("_")[0].lower()
    return _WORDS.get(lang, _WORDS["en"])


def slack_user(via: str | None) -> str | None:
    """The Slack user id an action came from (``via`` is ``slack:U0123…`` for a click)."""
    m = _SLACK_USER.match(via or "")
    return m.group(1) if m else None


def mention(name: str | None, via: str | None = None) -> str:
    """Who acted, for mrkdwn: a mention when the action came from Slack, else their name, escaped."""
    user = slack_user(via)
    if user:
        return f"<@{user}>"
    return slack_mrkdwn(header_text(name or "?"))


def _time(at: datetime | None, tz: str) -> str:
    if at is None:
        return "?"
    local = at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
    return f"<!date^{int(at.timestamp())}^{{time}}|{local}>"


def _state_line(case: CaseState, w: Words, tz: str, via: str | None) -> str | None:
    if case.status == "claimed":
        return w.claimed.format(who=mention(case.claimed_by, via), time=_time(case.claimed_at, tz))
    if case.status == "resolved":
        line = w.resolved.format(who=mention(case.resolved_by, via), time=_time(case.resolved_at, tz))
        return f"{line} — {slack_mrkdwn(case.note[:500])}" if case.note else line
    return None


def button_value(case_id: str, case_round: int | None) -> str:
    """What a case button carries: the case id and the round its message shows.

    >>> button_value("c41d", 2), button_value("c41d", None)
    ('c41d:2', 'c41d')
    """
    return case_id if case_round is None else f"{case_id}:{case_round}"


def _button(action_id: str, text: str, case: CaseState, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": button_value(case.id, case.round),
                              "text": {"type": "plain_text", "text": text, "emoji": True}}
    if style:
        button["style"] = style
    return button


def case_blocks(case: CaseState, locale: str, tz: str, *, buttons: bool,
                via: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The state line (shown under the title) and the buttons (at the end) for ``case``.

    ``via``: where the holder acted from (a mention when it was Slack).
    """
    w = words(locale)
    state: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    line = _state_line(case, w, tz, via)
    if line:
        state.append({"type": "section", "block_id": f"case_state:{case.id}", "text": {"type": "mrkdwn", "text": line}})
    if buttons:
        if case.status in ("open", "reopened"):
            elements = [_button("case_claim", w.claim, case, "primary"), _button("case_resolve", w.resolve, case)]
        elif case.status == "claimed":
            elements = [_button("case_resolve", w.resolve, case, "primary")]
        else:
            elements = [_button("case_reopen", w.reopen, case)]
        out.append({"type": "actions", "block_id": f"{BLOCK_PREFIX}{case.id}", "elements": elements})
    return state, out


def reply_text(action: Action, actor: str, via: str, at: datetime, note: str | None, locale: str, tz: str) -> str:
    """The thread reply telling an action: "✋ Pris en charge par @marie à 14:05"."""
    w = words(locale)
    template = {"claim": w.claimed, "resolve": w.resolved, "reopen": w.reopened}[action]
    text = template.format(who=mention(actor, via), time=_time(at, tz))
    return f"{text} — {slack_mrkdwn(note[:1000])}" if note else text
