"""The one HTTP policy every HTTP channel shares: status -> retry or not, and why.

Retryable: connection errors, timeouts, 408, 429 and 5xx (with ``Retry-After`` honoured).
Permanent: every other 4xx. Secrets are redacted from every reason.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import httpx

from notifier.channels.base import SendResult, permanent, retryable, sent
from notifier.core.masking import mask_url, url_secrets

__all__ = ["classify_exception", "classify_response", "classify_status", "http_client", "json_object",
           "mask_url", "parse_retry_after", "redact", "status_reason", "url_secrets"]


def http_client(config: Any, *, headers: dict[str, str] | None = None,
                auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    """The client of one HTTP channel: its timeout, at most ``concurrency`` connections."""
    return httpx.AsyncClient(
        auth=auth,
        timeout=config.timeout.total_seconds(),
        headers={"User-Agent": "notifier", **(headers or {})},
        limits=httpx.Limits(max_connections=config.concurrency,
                            max_keepalive_connections=config.concurrency),
    )


def json_object(response: httpx.Response) -> dict[str, Any] | None:
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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


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


def classify_response(response: httpx.Response, *, secrets: Iterable[str | None] = (),
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
    reason = status_reason(code, body, secrets=secrets, phrase=response.reason_phrase, detail=detail)
    return classify_status(code, reason, parse_retry_after(response.headers.get("retry-after")))


def classify_exception(exc: Exception, *, secrets: Iterable[str | None] = ()) -> SendResult:
    """Transport errors (refused, reset, timeout) are retryable; others are permanent."""
    if isinstance(exc, httpx.TimeoutException):
        return retryable(redact(f"timeout: {exc!r}", secrets), label="timeout")
    if isinstance(exc, httpx.TransportError | OSError):
        return retryable(redact(f"connection error: {exc!r}", secrets), label="connection")
    return permanent(redact(f"{type(exc).__name__}: {exc}", secrets), label="error")
