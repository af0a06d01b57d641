"""Masking channel URLs: their paths and query strings are often the only password they have.

A Slack incoming webhook (``/services/T0/B0/XXXX``), a Teams workflow (``…&sig=XXXX``), a
webhook receiver's secret path and every Apprise URL (``discord://id/token``) give anyone
who reads them the right to post. What is shown is enough to recognise the target::

    >>> mask_url("https://hooks.slack.com/services/T0/B0/abcdef123456")
    'https://hooks.slack.com/***'
    >>> mask_url("https://example.com")
    'https://example.com'
    >>> mask_url("discord://1234567/AbCdEfToken")
    'discord://***'
    >>> mask_urls_in("POST https://user:pw@example.com:8443/hook?sig=abc failed")
    'POST https://***@example.com:8443/*** failed'
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

__all__ = ["error_line", "mask_url", "mask_urls_in", "url_secrets"]

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,30}://[^\s\"'<>`]+")
# Schemes whose host part names a server (Apprise's json://, form://, xml:// post to one);
# in other Apprise schemes (discord://, tgram://…) the "host" is an id or a token.
_WEB = ("http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos", "smtp", "smtps",
        "smtp+starttls")


def mask_url(url: str) -> str:
    """``url`` with its credentials, path and query replaced by ``***``.

    Web URLs keep their scheme, host and port; other schemes (most of Apprise's) keep the
    scheme only, since their "host" is usually a token or an account id.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"
    scheme = parts.scheme.lower()
    if not scheme:
        return "***"
    if scheme not in _WEB or not host:
        return f"{scheme}://***"
    where = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    creds = "***@" if "@" in parts.netloc else ""
    rest = "/***" if parts.path.strip("/") or parts.query or parts.fragment else parts.path
    return f"{scheme}://{creds}{where}{rest}"


def mask_urls_in(text: str) -> str:
    """Every URL inside ``text`` masked with :func:`mask_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def url_secrets(url: str | None) -> list[str]:
    """The pieces of ``url`` that must never be shown, longest first, for redacting free text.

    The URL itself, its path and query, each query value, each path segment that looks
    like a token (8+ characters with a digit, or 16+), and a password.
    """
    if not url:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return [url]
    found = {url, url.split("?", 1)[0]}
    if parts.scheme.lower() not in _WEB:
        found.add(url.split("://", 1)[-1])
        found.update(seg for seg in re.split(r"[/:@?&=#]", url.split("://", 1)[-1]) if len(seg) >= 6)
    if parts.path.strip("/"):
        found.add(parts.path)
    if parts.query:
        found.add(parts.query)
        found.update(value for _, value in parse_qsl(parts.query) if len(value) >= 4)
    for seg in parts.path.split("/"):
        if (len(seg) >= 8 and any(c.isdigit() for c in seg)) or len(seg) >= 16:
            found.add(seg)
    if password and len(password) >= 4:
        found.add(password)
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def error_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, cut to ``limit`` characters (for a dead letter's
    reason, a log line).

    URLs in it are masked: a library's error may quote a channel URL whose path is a secret.
    """
    text = mask_urls_in(" ".join(str(exc).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
