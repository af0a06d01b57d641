"""SMTP server URLs (``smtp://``, ``smtp+starttls://``, ``smtps://``) and their clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib

from notifier.channels.email_config import EmailChannel

__all__ = ["DEFAULT_PORTS", "SmtpServer", "parse_smtp_url"]

Scheme = Literal["smtp", "smtp+starttls", "smtps"]

#: Plain SMTP, submission with STARTTLS, and implicit TLS.
DEFAULT_PORTS: dict[str, int] = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect; ``password`` never appears in :attr:`shown`."""

    scheme: Scheme
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def shown(self) -> str:
        """The server as it may appear in logs and failure reasons."""
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"

    def client(self, config: EmailChannel) -> aiosmtplib.SMTP:
        """An unconnected client; ``async with`` connects, secures, logs in and quits."""
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.scheme == "smtps",
            # Plain smtp:// stays plain: no opportunistic STARTTLS that could fail on a
            # certificate the admin never asked us to check.
            start_tls=self.scheme == "smtp+starttls",
            validate_certs=config.tls_verify,
            cert_bundle=config.ca_file,
            timeout=config.timeout.total_seconds(),
        )


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp+starttls://user:p%40ss@mail.example.com`` -> :class:`SmtpServer` (port 587).

    Raises ``ValueError`` for another scheme, a missing host or a bad port.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {parts.scheme!r} (use smtp, smtp+starttls or smtps)")
    if not parts.hostname:
        raise ValueError("no host in the smtp URL")
    port = parts.port or DEFAULT_PORTS[scheme]
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpServer(scheme, parts.hostname, port, username, password)  # type: ignore[arg-type]
