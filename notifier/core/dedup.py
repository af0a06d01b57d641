"""Deduplication decisions: pure functions, ``now`` passed in.

A route's dedup has a key template and a window. The first event of a key opens a window
and is sent; repeats inside it are suppressed and counted; the first event after the
window is sent again and says how many were folded into the previous one.

A key must never fold two different people together: the default key uses ``{person}``,
who is asking — the conversation, else the user's email or phone (normalised), else the
event itself — so that two visitors without a conversation id both reach the team.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifier.core.events import Event

__all__ = [
    "DEFAULT_KEY",
    "KEY_FIELDS",
    "PERSON_FIELDS",
    "DedupDecision",
    "DedupState",
    "check_key_template",
    "decide",
    "escaper",
    "key_fields",
    "person",
    "render_key",
]

#: The fields a dedup key template may use.
KEY_FIELDS = frozenset(
    {"site", "conversation_id", "kind", "route", "user_email", "priority", "message", "id", "labels",
     "person"}
)

#: Fields that tell people apart in every event: a key without one of them can fold the
#: requests of different people (without a conversation id, or without an email) into one.
PERSON_FIELDS = frozenset({"person", "id"})

#: The default key: one notification per person (conversation), site and kind per window.
DEFAULT_KEY = "{site}:{person}:{kind}"


def key_fields(template: str) -> set[str]:
    """The fields ``template`` uses, e.g. ``{"site", "person", "kind"}`` (``labels[x]`` -> ``labels``)."""
    return {field.split(".")[0].split("[")[0]
            for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def check_key_template(template: str) -> None:
    """Raise ``ValueError`` naming the first unknown field of ``template``."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid key template {template!r}: {exc}") from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = field.split(".")[0].split("[")[0]
        if root not in KEY_FIELDS:
            allowed = ", ".join(sorted(KEY_FIELDS))
            raise ValueError(f"unknown field {{{root}}} in key template (allowed: {allowed})")


_PHONE_NOISE = re.compile(r"[^0-9]")


def _email(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _phone(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    digits = _PHONE_NOISE.sub("", text)
    # "+33 6 12 34 56 78", "0033612345678" and "+33 (0)6…" are written differently by the
    # same person from one message to the next; their digits with one international prefix
    # are not.
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def escaper(separators: str) -> dict[int, str]:
    """A ``str.translate`` table that percent-encodes ``%`` and each of ``separators``.

    A key joins values sent by the client (a site, a conversation id) with separators; a
    value holding a separator could otherwise end where another begins, and two people's
    keys come out the same (site ``a``, conversation ``b:c`` against site ``a:b``,
    conversation ``c``). Values without them are unchanged, so are their keys.

    >>> "shop:8080".translate(escaper(":"))
    'shop%3A8080'
    """
    return {ord(c): f"%{ord(c):02X}" for c in {"%", *separators}}


def person(event: Event, escape: dict[int, str] | None = None) -> str:
    """Who is asking, as a dedup key part: the conversation, else the user's email, else
    their phone (both normalised), else the event itself (so it folds with nothing).

    ``escape`` (an :func:`escaper` table) encodes the separators of the key the part goes in.

    >>> person(Event.model_validate({"kind": "contact_request", "user": {"email": " Marie@Example.com"}}))
    'email:marie@example.com'
    >>> person(Event.model_validate({"kind": "contact_request", "id": "e1"}))
    'event:e1'
    """
    table = escape or {}
    if event.conversation_id:
        return f"conversation:{event.conversation_id.translate(table)}"
    user = event.user
    if user is not None and user.email and _email(user.email):
        return f"email:{_email(user.email).translate(table)}"
    if user is not None and user.phone and _phone(user.phone):
        return f"phone:{_phone(user.phone)}"
    return f"event:{(event.id or '').translate(table)}"


class _Escaped(dict[str, str]):
    """A label's value with the key's separators encoded; a missing label is empty.

    Encoded when the template names it: an event may carry 50 labels of 1,000 characters.
    """

    def __init__(self, labels: dict[str, str], table: dict[int, str]) -> None:
        super().__init__()
        self._labels, self._table = labels, table

    def __missing__(self, key: str) -> str:
        return self._labels.get(key, "").translate(self._table)

    def __format__(self, spec: str) -> str:  # ``{labels}`` alone: every label, as before
        return format({name: value.translate(self._table) for name, value in self._labels.items()}, spec)


def _separators(template: str) -> str:
    """Every character of ``template``'s literal text (what stands between its fields)."""
    return "".join({c for text, _, _, _ in string.Formatter().parse(template) for c in text})


#: Each value a key template may name, separators encoded with the template's table.
_VALUES: dict[str, Callable[[Event, str, dict[int, str]], Any]] = {
    "site": lambda event, route, table: event.site.translate(table),
    "conversation_id": lambda event, route, table: (event.conversation_id or "").translate(table),
    "kind": lambda event, route, table: event.kind.value,
    "route": lambda event, route, table: route,
    "user_email": lambda event, route, table: ((event.user and event.user.email) or "").translate(table),
    "priority": lambda event, route, table: event.effective_priority.value,
    "message": lambda event, route, table: (event.message or "").translate(table),
    "id": lambda event, route, table: (event.id or "").translate(table),
    "labels": lambda event, route, table: _Escaped(event.labels, table),
    "person": lambda event, route, table: person(event, table),
}


#: The escaper and the named values of each key template met (a configuration holds a few).
_tables: dict[str, tuple[dict[int, str], list[str]]] = {}


def render_key(template: str, event: Event, route: str) -> str:
    """The dedup key of ``event`` on ``route``, e.g. ``shop:c42:support_request``.

    The values the client sends have the template's separators encoded (:func:`escaper`),
    so that no value can stand for two.
    """
    known = _tables.get(template)
    if known is None:
        known = _tables[template] = (escaper(_separators(template)), sorted(key_fields(template)))
    table, fields = known
    # Only the values the template names: encoding a 64,000-character message and 50 labels
    # for a key that holds neither cost milliseconds per route of every event accepted.
    values = {name: _VALUES[name](event, route, table) for name in fields if name in _VALUES}
    return f"{route}|{template.format_map(values)}"


@dataclass(frozen=True)
class DedupState:
    """What the store remembers for one key."""

    window_until: datetime
    suppressed: int
    first_delivery_id: str | None = None


@dataclass(frozen=True)
class DedupDecision:
    """``send`` or not; ``folded`` repeats to announce; the state to store."""

    send: bool
    folded: int
    state: DedupState


def decide(state: DedupState | None, now: datetime, window: timedelta) -> DedupDecision:
    """Decide for one event whose key's stored state is ``state``.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> first = decide(None, t, timedelta(minutes=10))
    >>> first.send, decide(first.state, t + timedelta(minutes=1), timedelta(minutes=10)).send
    (True, False)
    """
    if window <= timedelta(0):
        return DedupDecision(True, 0, DedupState(now, 0))
    if state is not None and now < state.window_until:
        return DedupDecision(False, 0, DedupState(state.window_until, state.suppressed + 1,
                                                  state.first_delivery_id))
    folded = state.suppressed if state is not None else 0
    return DedupDecision(True, folded, DedupState(now + window, 0))
