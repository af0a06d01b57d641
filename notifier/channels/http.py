"""The one HTTP policy every HTTP channel shares: status -> retry or not, and why.

Retryable: connection errors, timeouts, 408, 429 and 5xx (with ``Retry-After`` honoured).
Permanent: every other 4xx. Secrets are redacted from every reason.
"""

from __future__ import annotations

import email.utils
import re
import socket
import ssl
import sys
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from notifier.channels.base import SendResult, permanent, retryable, sent
from notifier.channels.http_client import HttpClient, Response, TransportError
from notifier.core.masking import mask_url, url_secrets

__all__ = ["classify_exception", "classify_response", "classify_status", "http_client", "json_object",
           "mask_url", "network_problem", "parse_retry_after", "redact", "status_reason", "url_secrets"]


def http_client(config: Any, *, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None) -> HttpClient:
    """The client of one HTTP channel: its timeout, and a pool no smaller than its highest concurrency.

    pyreqwest: per request as much CPU as aiohttp with few in flight, less with many, and a
    tenth of httpx's or less (``bench/http_clients.py``, docs/benchmarks.md). ``auth`` is a ``(user, password)``
    pair sent as Basic auth.
    """
    # The worker's adaptive limit bounds the sends; the pool only must not be the tighter
    # bound (the default range's top is defaults.max_concurrency, unknown here: 256 is
    # the highest any setting allows).
    limit = config.max_concurrency or 256
    return HttpClient(limit=limit, timeout=config.timeout.total_seconds(),
                      headers={"User-Agent": "notifier", **(headers or {})}, auth=auth)


def json_object(response: Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or ``None`` when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None

_LABELS = {401: "auth", 403: "auth", 404: "not_found", 408: "timeout", 413: "too_large",
           422: "invalid", 429: "rate_limited"}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (of 4+ characters) replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    # Credentials inside URLs (user:password@host) never belong in an error either.
    return re.sub(r"(://[^/@\s:]+):[^/@\s]+@", r"\1:***@", text)


#: The longest ``Retry-After`` taken as said (seconds): a day. A receiver asking for longer
#: (a thousand years, ``1e999``) would pause its channel for good and overflow the retry's date.
MAX_RETRY_AFTER = 86_400.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), at most :data:`MAX_RETRY_AFTER`."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (now if now is not None else time.time())
    return min(max(0.0, seconds), MAX_RETRY_AFTER)  # NaN falls to 0.0: max() keeps its first


def _header(response: Response, name: str) -> str | None:
    """A header of ``response``, or ``None`` when it is absent or not text (bytes outside
    UTF-8 that the client will not decode: a receiver's mistake is no reason to lose the status)."""
    try:
        return response.headers.get(name)
    except ValueError:
        return None


def excerpt(body: str, limit: int = 300) -> str:
    """A one-line, bounded excerpt of a response body for an error message."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_reason(code: int, body: str, *, secrets: Iterable[str | None] = (), phrase: str | None = None,
                  detail: str | None = None) -> str:
    """``HTTP 503 Service Unavailable: <detail, or an excerpt of body>``, secrets redacted.

    ``phrase`` defaults to the standard reason phrase of ``code``.
    """
    if phrase is None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
    secrets = list(secrets)
    # Redact before cutting: an excerpt could end in the middle of a secret.
    return redact(f"HTTP {code} {phrase}: {detail or excerpt(redact(body, secrets))}".rstrip(": "), secrets)


def classify_status(code: int, reason: str, retry_after: float | None = None, *,
                    ref: str | None = None) -> SendResult:
    """The policy for an HTTP status: 2xx sent, 408/429/5xx retried, other codes permanent.

    ``reason`` is already in plain words with secrets redacted (see :func:`status_reason`).
    """
    if 200 <= code < 300:
        return sent(ref)
    label = _LABELS.get(code, "server_error" if code >= 500 else "client_error")
    if code in (408, 429) or code >= 500:
        return retryable(reason, retry_after=retry_after, label=label)
    return permanent(reason, label=label)


def classify_response(response: Response, *, secrets: Iterable[str | None] = (),
                      ref: str | None = None, detail: str | None = None) -> SendResult:
    """Turn an HTTP response into a :class:`SendResult`.

    ``detail`` replaces the body excerpt in the reason (an API's own error text).
    """
    code = response.status_code
    if 200 <= code < 300:
        return sent(ref)
    try:
        body = response.text
    except Exception:  # a body that cannot be decoded still has a status worth reporting
        body = ""
    reason = status_reason(code, body, secrets=secrets, detail=detail)  # the status's standard phrase
    return classify_status(code, reason, parse_retry_after(_header(response, "retry-after")))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


#: rustls's certificate errors (``rustls::CertificateError``) in the words OpenSSL's would give.
_CERTIFICATE_WORDS = {"UnknownIssuer": "not trusted (unknown issuer)", "Expired": "expired",
                      "NotValidYet": "not valid yet", "NotValidForName": "not valid for this host name",
                      "BadSignature": "with a bad signature", "Revoked": "revoked",
                      "BadEncoding": "unreadable"}

#: How the HTTP clients say that the server closed the connection (aiohttp; hyper, under pyreqwest).
_CLOSED_WORDS = ("Server disconnected", "connection closed before message completed", "Connection reset by peer",
                 "Broken pipe", "end of file before message length reached", "IncompleteMessage")


def _aiohttp_errors(*names: str) -> tuple[type[BaseException], ...]:
    """aiohttp's exception classes ``names``, if aiohttp is loaded (Slack's client sends with
    it); none otherwise, as none of them can have been raised. The other channels send with
    pyreqwest: a worker without Slack need not hold aiohttp in memory (about 20 MB)."""
    aiohttp = sys.modules.get("aiohttp")
    return tuple(getattr(aiohttp, name) for name in names) if aiohttp is not None else ()


def network_problem(exc: BaseException, host: str, port: int | None,
                    ca_hint: str = "set `ca_file` for a private CA") -> tuple[str, str]:
    """What went wrong reaching ``host:port``, in plain words, and a metric label.

    Libraries wrap the socket error several times (``ConnectError(OSError(...))``); the
    root cause decides the words: a name that does not resolve, a refused connection, no
    answer in time, a TLS handshake or certificate problem, a connection cut short.
    ``ca_hint`` says how to trust a private CA where the certificate is not trusted.
    """
    where = f"{host}:{port}" if port else host
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    for e in chain:
        if isinstance(e, socket.gaierror) or "Name or service not known" in text or \
                "nodename nor servname" in text or "Temporary failure in name resolution" in text:
            return (f"{where}: cannot resolve the host name {host!r} (DNS); is it spelled right, "
                    "and does this machine reach its DNS server?", "dns")
    rustls = re.search(r"invalid peer certificate: ([A-Za-z]+)", text)  # rustls, under pyreqwest
    if rustls:
        return f"{where}: TLS certificate {_CERTIFICATE_WORDS.get(rustls[1], rustls[1])}; {ca_hint}", "tls"
    if "received fatal alert" in text or "InvalidContentType" in text or "HandshakeFailure" in text:
        return f"{where}: TLS handshake failed ({text.rsplit(': ', 1)[-1]})", "tls"
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            detail = getattr(e, "verify_message", None) or "not trusted"
            return (f"{where}: TLS certificate {detail}; {ca_hint}", "tls")
        if isinstance(e, ssl.SSLError):
            return f"{where}: TLS handshake failed ({getattr(e, 'reason', None) or e})", "tls"
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or "Connection refused" in text or "Errno 111" in text:
            return f"{where}: connection refused (nothing listens on that port, or a firewall rejects it)", \
                "connection"
    # Before timeouts: a dropped connection can surface inside a timeout error.
    for e in chain:
        if isinstance(e, (ConnectionResetError, BrokenPipeError,
                          *_aiohttp_errors("ServerDisconnectedError", "ClientPayloadError"))) \
                or any(w in text for w in _CLOSED_WORDS):
            return f"{where}: the server closed the connection unexpectedly", "connection"
    for e in chain:
        if isinstance(e, TimeoutError | socket.timeout):
            phase = "connecting" if isinstance(e, _aiohttp_errors("ConnectionTimeoutError")) \
                or "connect" in str(e).lower() \
                else "waiting for an answer"
            return f"{where}: timed out {phase}", "timeout"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return f"{where}: network error: {e.strerror.lower()}", "connection"
    return f"{where}: cannot connect: {' '.join(str(exc).split()) or type(exc).__name__}", "connection"


def classify_exception(exc: Exception, *, secrets: Iterable[str | None] = ()) -> SendResult:
    """Transport errors (refused, reset, timeout) are retryable, in plain words; others are permanent."""
    if isinstance(exc, TransportError | OSError):
        host, port = (exc.host, exc.port) if isinstance(exc, TransportError) else ("the server", None)
        # The HTTP channels have no `ca_file` (email's): they trust what Python's ssl trusts.
        text, label = network_problem(exc, host, port, ca_hint="for a private CA, add it to the system's "
                                      "certificates or start notifier with SSL_CERT_FILE naming a bundle holding it")
        if label == "tls" and "certificate" in text:
            return permanent(redact(text, secrets), label=label)
        return retryable(redact(text, secrets), label=label)
    return permanent(redact(f"{type(exc).__name__}: {exc}", secrets), label="error")
