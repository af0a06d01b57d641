"""A case in plain words, for the channels that cannot edit what they sent (email, Teams, helpdesks).

They show the case's state on a new alert ("Pris en charge par Marie à 14:05") and tell
each action as a new message: a reply in the email thread, a card, an internal note.
Plain text: each channel escapes it for its target (Jinja2's HTML autoescape, a Teams
TextRun, a Zendesk comment's ``body``, ``html.escape`` for Freshdesk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.channels.inert import header_text
from notifier.core.cases import Action
from notifier.core.follow_up import CaseState

__all__ = ["CaseWords", "action_text", "case_words", "state_text", "via_text"]


@dataclass(frozen=True)
class CaseWords:
    """What a channel says about a case, in one language."""

    claim: str
    resolve: str
    claimed: str
    resolved: str
    reopened: str
    note: str
    subject: str
    vias: dict[str, str]


_WORDS = {
    "fr": CaseWords(
        claim="Je m'en occupe", resolve="Résolu",
        claimed="Pris en charge par {who} à {time}", resolved="Résolu par {who} à {time}",
        reopened="Rouvert par {who} à {time}", note="Note", subject="Demande {state}",
        vias={"slack": "depuis Slack", "email": "depuis l'email", "teams": "depuis Teams", "api": "par l'API",
              "cli": "en ligne de commande", "console": "depuis la console", "zendesk": "dans Zendesk",
              "freshdesk": "dans Freshdesk"},
    ),
    "en": CaseWords(
        claim="I'm on it", resolve="Resolved",
        claimed="Claimed by {who} at {time}", resolved="Resolved by {who} at {time}",
        reopened="Reopened by {who} at {time}", note="Note", subject="Request {state}",
        vias={"slack": "from Slack", "email": "from the email", "teams": "from Teams", "api": "through the API",
              "cli": "from the command line", "console": "from the console", "zendesk": "in Zendesk",
              "freshdesk": "in Freshdesk"},
    ),
}


def case_words(locale: str | None) -> CaseWords:
    """The words of ``locale`` (``fr``, ``en``; English for any other)."""
    lang = (locale or "fr").split("-")[0].split("_")[0].lower()
    return _WORDS.get(lang, _WORDS["en"])


def via_text(via: str, locale: str | None) -> str:
    """Where an action came from, said plainly ("depuis Slack"); empty when unknown."""
    return case_words(locale).vias.get(via.split(":")[0], "")


def _time(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M") if at else "?"


def action_text(action: Action, actor: str, via: str, at: datetime, locale: str | None, tz: str) -> str:
    """One action as a sentence: "Pris en charge par Marie à 14:05 (depuis l'email)"."""
    w = case_words(locale)
    template = {"claim": w.claimed, "resolve": w.resolved, "reopen": w.reopened}[action]
    where = via_text(via, locale)
    return template.format(who=header_text(actor), time=_time(at, tz)) + (f" ({where})" if where else "")


def state_text(case: CaseState | None, locale: str | None, tz: str) -> str | None:
    """Where the case stands, when someone has it or closed it ("Résolu par Marie à 14:30")."""
    if case is None:
        return None
    w = case_words(locale)
    if case.status == "claimed":
        return w.claimed.format(who=header_text(case.claimed_by or "?"), time=_time(case.claimed_at, tz))
    if case.status == "resolved":
        return w.resolved.format(who=header_text(case.resolved_by or "?"), time=_time(case.resolved_at, tz))
    return None
