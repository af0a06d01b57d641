"""Redaction of personal data in free text: pure functions, no I/O.

A visitor types anything into a chatbot: their address, their phone number, a card
number "to check the payment", an IBAN, and the page may log their IP. :func:`redact`
replaces each of those with a typed placeholder before a channel sees the text::

    >>> redact("Écrivez à marie@example.fr ou au 06 12 34 56 78, commande 123456789")
    'Écrivez à [email] ou au [téléphone], commande 123456789'

Each kind is confirmed by a well-kept library, not by a loose pattern alone, so order
numbers, dates, prices, postcodes and tracking numbers survive:

- ``email``: an ``local@domain.tld`` shape (the address need not be deliverable to be
  personal; ``email-validator`` would refuse many real typos).
- ``phone``: libphonenumber's ``PhoneNumberMatcher`` (``phonenumbers``), region ``FR``
  by default, at its "valid" leniency: the number must exist in the numbering plan.
- ``card``: 13 to 19 digits, optionally grouped by spaces or dashes, Luhn-checked
  (``stdnum.luhn``) and with a known card prefix (2-6).
- ``iban``: country code, check digits and body, validated by ``stdnum.iban``
  (ISO 13616 checksum and the country's length).
- ``ip``: IPv4 dotted quads and IPv6 addresses, confirmed by the stdlib ``ipaddress``.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn

__all__ = ["KINDS", "Finding", "find", "placeholder", "redact"]

#: Every kind :func:`redact` knows, in the order they are looked for.
KINDS: tuple[str, ...] = ("email", "iban", "card", "ip", "phone")

_PLACEHOLDERS: dict[str, dict[str, str]] = {
    "fr": {"email": "[email]", "phone": "[téléphone]", "card": "[carte]", "iban": "[iban]", "ip": "[ip]"},
    "en": {"email": "[email]", "phone": "[phone]", "card": "[card]", "iban": "[iban]", "ip": "[ip]"},
}


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text: its kind and where it is (``text[start:end]``)."""

    kind: str
    start: int
    end: int


def placeholder(kind: str, locale: str = "fr") -> str:
    """The text that stands in for data of ``kind`` (``[téléphone]`` in French, ``[phone]`` in English)."""
    return _PLACEHOLDERS.get(locale, _PLACEHOLDERS["en"])[kind]


# No \b before the local part: "mail:marie@x.fr" must still match from "marie".
# Tried only where a run of address characters begins: a match tried at every position of a
# long run without "@" rescans the rest of the run each time (quadratic: 64,000 digits took
# half a minute per delivery, holding the worker's loop).
_EMAIL = re.compile(r"(?<![\w.%+'-])[\w.%+'-]+@(?:[\w-]+\.)+[^\W\d_]{2,}", re.UNICODE)
# Two letters, two digits, then 11-30 alphanumerics, possibly in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b", re.IGNORECASE)
# 13-19 digits, optionally grouped by single spaces or dashes; not part of a longer number.
_CARD = re.compile(r"(?<![\d.,/-])\d(?:[ -]?\d){12,18}(?![\d]|[.,/-]\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
# Hex groups with colons; ipaddress decides whether it really is an address.
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
_CARD_PREFIX = re.compile(r"[2-6]")


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.start(), m.end()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        candidate = m.group()
        # The greedy match may run into a following word ("FR76... merci"): shrink until valid.
        end = len(candidate)
        while end >= 15:
            if std_iban.is_valid(candidate[:end]):
                yield m.start(), m.start() + len(candidate[:end].rstrip())
                break
            end -= 1


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield m.start(), m.end()


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            try:
                address = ipaddress.ip_address(m.group())
            except ValueError:
                continue
            # "12:30:45" and "::" are not anybody's address.
            if (address.version == 6 and m.group().count(":") < 2) or m.group() in ("::",):
                continue
            yield m.start(), m.end()


def _phones(text: str, region: str) -> Iterator[tuple[int, int]]:
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        yield match.start, match.end


def find(text: str, kinds: Collection[str] = KINDS, *, region: str = "FR") -> list[Finding]:
    """Personal data in ``text`` of the given ``kinds``, in order, never overlapping.

    When two findings overlap, the kind earlier in :data:`KINDS` wins (an IBAN's digits
    are not also a phone number), then the longer one.
    """
    finders: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
        "email": _emails, "iban": _ibans, "card": _cards, "ip": _ips,
        "phone": lambda t: _phones(t, region),
    }
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown redaction kind(s): {', '.join(sorted(unknown))}")
    # ``taken`` stays sorted and free of overlaps, so one pass over it per kind finds what a
    # span would overlap (comparing each span with every finding so far was quadratic: a
    # message of 9,000 addresses took seconds per delivery).
    taken: list[Finding] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        spans = sorted(finders[kind](text), key=lambda s: (s[0], -(s[1] - s[0])))
        kept: list[Finding] = []
        i = 0
        for start, end in spans:
            while i < len(taken) and taken[i].end <= start:
                i += 1
            if (i < len(taken) and taken[i].start < end) or (kept and kept[-1].end > start):
                continue
            kept.append(Finding(kind, start, end))
        taken = sorted(taken + kept, key=lambda f: f.start)
    return taken


def redact(text: str, kinds: Collection[str] = KINDS, *, locale: str = "fr", region: str = "FR") -> str:
    """``text`` with every finding of :func:`find` replaced by its :func:`placeholder`."""
    out: list[str] = []
    pos = 0
    for f in find(text, kinds, region=region):
        out.append(text[pos:f.start])
        out.append(placeholder(f.kind, locale))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)
