"""Internationalised email addresses: SMTPUTF8 when the server offers it, else a safe downgrade.

A visitor may be called ``Jörg`` and write from ``jörg@example.com`` or ``jorg@müller.de``.
The standard library's header registry models such an address; how it goes on the wire
depends on the SMTP server (RFC 6531/6532):

- the server offers ``SMTPUTF8``: headers and envelope are sent as UTF-8, unchanged;
- it does not: display names become RFC 2047 encoded words (the ``SMTP`` policy does it),
  domains their IDNA form (``müller.de`` -> ``xn--mller-kva.de``), and an address whose
  *local part* is not ASCII cannot be written at all: it is left out of the header (the
  mail body still shows it as text), never failing the mail.

Example::

    >>> str(visitor_address("Jörg", "jorg@müller.de"))
    'Jörg <jorg@müller.de>'
    >>> ascii_mailbox("jorg@müller.de")
    'jorg@xn--mller-kva.de'
    >>> ascii_mailbox("jörg@example.com") is None
    True
"""

from __future__ import annotations

import copy
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import getaddresses

import idna

__all__ = ["ADDRESS_HEADERS", "ascii_mailbox", "needs_smtputf8", "visitor_address", "wire_bytes"]

#: Headers holding addresses, rewritten for a server without SMTPUTF8.
ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To")

_FORBIDDEN = set(" \t\r\n\"(),:;<>@[\\]")


def _ascii_domain(domain: str) -> str | None:
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def visitor_address(name: str | None, email: str) -> Address | None:
    """The address a visitor typed, as a header value; ``None`` if it is not one address.

    Whitespace in the name is flattened (it can never add a header line); an address with
    more than one ``@``, spaces, control characters or a domain that has no IDNA form is
    refused rather than guessed at.
    """
    local, at, domain = " ".join(email.split()).rpartition("@")
    if not at or not local or not domain or _FORBIDDEN & set(local + domain):
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in local + domain) or _ascii_domain(domain) is None:
        return None
    display = " ".join((name or "").split())
    try:
        return Address(display_name=display, username=local, domain=domain)
    except (ValueError, IndexError):  # what the header parser refuses, we refuse too
        return None


def ascii_mailbox(address: str) -> str | None:
    """``address`` with an IDNA domain for a server without SMTPUTF8; ``None`` if its local part is not ASCII."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address if address.isascii() else None
    ascii_domain = _ascii_domain(domain)
    if not local.isascii() or ascii_domain is None:
        return None
    return f"{local}@{ascii_domain}"


def _addresses(msg: EmailMessage, header: str) -> list[tuple[str, str]]:
    values = msg.get_all(header) or []
    return getaddresses([str(v) for v in values])


def needs_smtputf8(msg: EmailMessage, envelope: list[str]) -> bool:
    """Whether an address in the headers or the envelope has non-ASCII characters."""
    if not all(a.isascii() for a in envelope):
        return True
    return any(not addr.isascii() for header in ADDRESS_HEADERS for _, addr in _addresses(msg, header))


def wire_bytes(msg: EmailMessage, *, smtputf8: bool) -> bytes:
    """``msg`` as sent to a server with (UTF-8 headers) or without SMTPUTF8 (downgraded copy)."""
    if smtputf8:
        return msg.as_bytes(policy=SMTPUTF8.clone(linesep="\r\n"))
    downgraded = copy.deepcopy(msg)
    for header in ADDRESS_HEADERS:
        pairs = _addresses(downgraded, header)
        if all(addr.isascii() for _, addr in pairs):
            continue
        kept = []
        for name, addr in pairs:
            mailbox = ascii_mailbox(addr)
            if mailbox is not None:
                local, _, domain = mailbox.rpartition("@")
                kept.append(Address(display_name=name, username=local, domain=domain))
        if kept:
            downgraded.replace_header(header, kept)
        else:
            del downgraded[header]
    return downgraded.as_bytes(policy=SMTP)
