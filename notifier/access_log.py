"""One log line for every refused or failed HTTP request: method, path, status, reason.

A client that gets a 4xx usually cannot tell the operator, and a 5xx must never pass
unseen: each one is logged (``warning`` for 4xx, ``error`` for 5xx) with the ``error``
text of the JSON answer as the reason. Neither the request body nor the query string is
logged: both can carry a visitor's details or a token. Successful requests are not
logged (Prometheus counts them), so the log stays readable at any traffic. Nor are the
answers a handler marks with :func:`logged_elsewhere`: the ``503`` of a store outage,
which the store's outage log folds (thousands a second under load would bury the rest).
"""

from __future__ import annotations

import html
import re
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from notifier.store.outage_log import for_a_client

__all__ = ["AccessLog", "logged_elsewhere"]

log = structlog.get_logger("notifier.access")

#: Enough of an error answer to read its ``error`` text; larger bodies are not kept.
_KEEP = 4096

#: Set in a request's scope by whoever logged why it failed.
_LOGGED = "notifier.logged_elsewhere"


def logged_elsewhere(scope: MutableMapping[str, Any]) -> None:
    """Say that the failure of this request (its ASGI ``scope``) is logged by its handler."""
    scope[_LOGGED] = True


class AccessLog:
    """Pure ASGI middleware around the whole API (so guards' refusals are logged too).

    Being the outermost layer of each request, it also marks the store calls made while
    answering it as made for a waiting client (:func:`~notifier.store.outage_log.for_a_client`:
    in a known outage they wait a moment, not the store's whole timeout); the lifespan's, and
    the worker's started there, are not.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # app.state, app.router… for whoever holds the app
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400 and len(body) < _KEEP:
                body.extend(message.get("body", b"")[: _KEEP - len(body)])
            await send(message)

        try:
            with for_a_client():
                await self.app(scope, receive, watch)
        except Exception:
            _record(scope, 500, "unhandled error (see the traceback above)")
            raise
        if status >= 400 and not scope.get(_LOGGED):
            _record(scope, status, _reason(bytes(body)))


def _reason(body: bytes) -> str:
    if body[:15].lower() == b"<!doctype html>":
        # A console page: its alert says why (escaped HTML, read back as text).
        found = re.search(rb'role="alert">([^<]*)<', body)
        return html.unescape(found.group(1).decode(errors="replace"))[:300] if found else ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return " ".join(body.decode(errors="replace").split())[:300]
    if isinstance(data, dict):
        text = str(data.get("error") or data.get("detail") or "")
        details = data.get("details")
        if isinstance(details, list) and details:
            first = details[0]
            if isinstance(first, dict) and first.get("path"):
                text += f" ({first['path']}: {first.get('message', '')}"
                text += f", +{len(details) - 1} more)" if len(details) > 1 else ")"
        return text[:300]
    return ""


def _record(scope: dict[str, Any], status: int, reason: str) -> None:
    client = scope.get("client")
    fields = {"method": scope.get("method", ""), "path": scope.get("path", ""), "status": status,
              "reason": reason, "client": client[0] if client else None}
    if status >= 500:
        log.error("request failed", **fields)
    else:
        log.warning("request refused", **fields)
