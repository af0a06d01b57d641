"""Cases: a person waiting for an answer, from the first request until someone resolves it.

Pure: which events open a case, whose case it is, the states and the actions that move
between them, and the sentence the chatbot shows the user. No I/O, no clock.

States::

    open --claim--> claimed --resolve--> resolved --(the user writes again)--> reopened
      \\______________resolve_____________/^   reopen (an agent) ---------------^
    reopened --claim--> claimed ...

Every action is idempotent: claiming a case one already holds, or resolving a resolved
case, changes nothing and is not an error. Claiming a case somebody else holds is refused
and names the holder.

An agent is named by whatever they type (the CLI's ``--by``, the API's ``by``, an action
link's page, a helpdesk's agent name): ``Alice``, ``alice`` and ``ALICE`` are one agent, and
so are ``Élodie`` typed precomposed or with a combining accent (:func:`agent_key`). The
spelling an agent used stays what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from notifier.core.dedup import escaper, person
from notifier.core.events import LIMITS, Event, Kind
from notifier.core.fold import fold

__all__ = [
    "ACTIONS",
    "CASE_KINDS",
    "STATUSES",
    "Action",
    "CaseStatus",
    "agent_key",
    "case_identity",
    "labelled",
    "message_for_user",
    "opens_case",
    "same_agent",
]

CaseStatus = Literal["open", "claimed", "resolved", "reopened"]
STATUSES: tuple[CaseStatus, ...] = ("open", "claimed", "resolved", "reopened")
Action = Literal["claim", "resolve", "reopen"]
ACTIONS: tuple[Action, ...] = ("claim", "resolve", "reopen")

#: Kinds that always open (or join) a case: a person asked for a human.
CASE_KINDS = frozenset({Kind.support_request, Kind.contact_request, Kind.tool_call})


def agent_key(name: str) -> str:
    """Who an agent's name stands for: case, compatibility forms and spacing do not count.

    >>> agent_key("Alice") == agent_key(" alice ") == agent_key("ALICE")
    True
    >>> agent_key("Élodie") == agent_key("e\u0301lodie"), agent_key("Straße") == agent_key("STRASSE")
    (True, True)
    """
    # The privacy search's form (Unicode's compatibility caseless match), so "É" precomposed,
    # "E" with a combining accent and "é" come out the same, as an address does there.
    return " ".join(fold(name).split())


def same_agent(a: str | None, b: str | None) -> bool:
    """Whether two names stand for one agent (:func:`agent_key`); ``None`` is nobody."""
    return a is not None and b is not None and agent_key(a) == agent_key(b)


def opens_case(event: Event, keywords: list[str]) -> bool:
    """Whether ``event`` opens or joins a case: a request for a human, or a keyword alert."""
    return event.kind in CASE_KINDS or (event.kind is Kind.message and bool(keywords))


def labelled(original: dict[str, str], ours: dict[str, str]) -> dict[str, str]:
    """``original`` labels with ``ours`` added (ours win), within the event's label limit.

    The events notifier writes (escalations, acknowledgements) carry the request's labels
    and a few of their own; a request already at the limit gives up its last ones.
    """
    room = max(0, LIMITS["labels"] - len(ours))
    kept = [(k, v) for k, v in original.items() if k not in ours][:room]
    return {**dict(kept), **ours}


#: A site or person holding ``|`` must not stand for another site's person (``dedup.escaper``).
_IDENTITY = escaper("|")


def case_identity(event: Event) -> str:
    """Whose case an event belongs to: the conversation, else the person, else the event alone.

    The same identity as dedup's ``{person}``, per site: two requests of one conversation
    share a case; without a conversation the user's email (or phone) ties them together;
    an anonymous request is a case of its own.
    """
    return f"{event.site.translate(_IDENTITY)}|{person(event, _IDENTITY)}"


@dataclass(frozen=True)
class _Words:
    received: str
    by: str
    handled: str
    soon: str
    today: str
    tomorrow: str
    days: tuple[str, ...]
    months: tuple[str, ...]


_WORDS = {
    "fr": _Words(
        received="Nous avons bien reçu votre demande.",
        by="Un membre de l'équipe vous répondra d'ici {when}.",
        handled="Un membre de l'équipe s'occupe de votre demande.",
        soon="Un membre de l'équipe vous répondra dès que possible.",
        today="aujourd'hui {time}",
        tomorrow="demain {time}",
        days=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        months=("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                "septembre", "octobre", "novembre", "décembre"),
    ),
    "en": _Words(
        received="We have received your request.",
        by="A member of the team will answer by {when}.",
        handled="A member of the team is taking care of your request.",
        soon="A member of the team will answer as soon as possible.",
        today="today {time}",
        tomorrow="tomorrow {time}",
        days=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        months=("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"),
    ),
}


def _words(locale: str | None) -> _Words:
    lang = (locale or "fr").split("-")[0].split("_")[0].lower()
    return _WORDS.get(lang, _WORDS["en"])


def when_text(expected: datetime, now: datetime, tz: str, locale: str | None) -> str:
    """``lundi 11:00``, ``demain 10:00``, ``aujourd'hui 15:30``: when, said the way people say it."""
    w = _words(locale)
    zone = ZoneInfo(tz)
    local, today = expected.astimezone(zone), now.astimezone(zone).date()
    hhmm = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days <= 0:
        return w.today.format(time=hhmm)
    if days == 1:
        return w.tomorrow.format(time=hhmm)
    if days < 7:
        return f"{w.days[local.weekday()]} {hhmm}"
    if w is _WORDS["fr"]:
        return f"{w.days[local.weekday()]} {local.day} {w.months[local.month - 1]} {hhmm}"
    return f"{w.days[local.weekday()]} {w.months[local.month - 1]} {local.day} {hhmm}"


def message_for_user(status: CaseStatus, expected: datetime | None, now: datetime, tz: str,
                     locale: str | None) -> str:
    """The sentence the chatbot can show the user right away.

    >>> from datetime import UTC, datetime
    >>> message_for_user("open", datetime(2026, 3, 9, 10, tzinfo=UTC), datetime(2026, 3, 6, 18, tzinfo=UTC),
    ...                  "Europe/Paris", "fr")
    "Nous avons bien reçu votre demande. Un membre de l'équipe vous répondra d'ici lundi 11:00."
    """
    w = _words(locale)
    if status == "claimed":
        return f"{w.received} {w.handled}"
    if expected is None or expected <= now - timedelta(minutes=1):
        return f"{w.received} {w.soon}"
    return f"{w.received} {w.by.format(when=when_text(expected, now, tz, locale))}"
