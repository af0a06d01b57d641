"""Who may call the HTTP API, and who is calling: the access policy ``notifier.api`` applies.

:class:`AccessGuard` checks each request's bearer token against the scope its method and
path need (:func:`required_scope`) and leaves the caller in the ASGI scope; the endpoints
of every router read it with :func:`principal` to check sites::

    who = principal(request)          # None: no token exists, the API is open
    if who is not None and not who.may_site(case.site): ...

Kept apart from ``notifier.api`` (which builds the app and includes the routers) so the
routers import it without importing the module that imports them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from notifier.api_responses import error_response
from notifier.auth import Authenticator, Principal
from notifier.console import is_console_path

__all__ = ["PRINCIPAL_KEY", "AccessGuard", "principal", "required_scope", "self_authenticated"]

#: Where :class:`AccessGuard` leaves the caller's :class:`~notifier.auth.Principal` in the ASGI scope.
PRINCIPAL_KEY = "notifier.principal"


@functools.cache
def _own_credential_paths() -> tuple[re.Pattern[str], re.Pattern[str], str]:
    # Imported on first use, once: the routers' modules are loaded by the app that serves
    # them (notifier.api), not by every module that asks for the caller.
    from notifier.action_pages import ACT_PATH
    from notifier.helpdesk_inbound import INBOUND_PATH
    from notifier.slack_interactions import INTERACTIONS_PATH

    return ACT_PATH, INBOUND_PATH, INTERACTIONS_PATH


def self_authenticated(path: str) -> bool:
    """Paths whose requests carry their own credential instead of an API token.

    Action links hold a signed token for one action on one case; helpdesk webhooks are
    signed with their channel's secret, Slack's clicks with the app's signing secret; the
    console checks its own session cookies (a browser sends no bearer token). Each checks
    it and answers 4xx when it fails.
    """
    act, inbound, interactions = _own_credential_paths()
    return bool(act.match(path) or inbound.match(path)) or is_console_path(path) or path == interactions


def principal(request: Request) -> Principal | None:
    """The caller of ``request``; ``None`` when no token exists (the API is open)."""
    found: Principal | None = request.scope.get(PRINCIPAL_KEY)
    return found


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs; ``None``: any valid token (the docs, the tool definitions, unknown paths)."""
    if path == "/mcp":
        return "events:write"  # calling the tool posts an event
    if path == "/v1/tools":
        return None  # a bot holding only events:write reads the definition of what it may call
    if path.startswith("/v1/"):
        if path.startswith("/v1/privacy/"):
            return "admin"  # reading a person's data is as sensitive as erasing it
        if method in ("GET", "HEAD"):
            return "read"
        if method == "POST" and path == "/v1/events":
            return "events:write"
        return "admin"
    if path == "/metrics":
        return "read"
    return None


class AccessGuard:
    """Pure ASGI middleware: every path but ``/healthz`` needs a token once any token exists.

    The token's scope must fit the request (see :func:`required_scope`); the principal is
    left in the ASGI scope for the endpoints, which check sites and signatures. Written as
    plain ASGI rather than ``@app.middleware`` because the latter wraps every request in
    extra tasks and streams, which costs a large share of a small request.
    """

    def __init__(self, app: FastAPI, authenticator: Callable[[], tuple[Authenticator, bool]]) -> None:
        self.app = app
        self.authenticator = authenticator
        self.state = app.state
        self.router = app.router

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS" and scope["path"] != "/healthz" \
                and not self_authenticated(scope["path"]):
            auth, metrics_public = self.authenticator()
            path = scope["path"]
            if auth.enabled and not (metrics_public and path == "/metrics"):
                header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
                who = auth.identify(header.decode("latin-1"))
                need = required_scope(scope["method"], path)
                response = None
                if who is None:
                    response = error_response(401, "missing or wrong bearer token (Authorization: Bearer …)")
                    response.headers["WWW-Authenticate"] = "Bearer"
                elif need is not None and not who.allows(need):
                    response = error_response(403, f"token {who.name!r} lacks the {need!r} scope "
                                                   f"(it has: {', '.join(sorted(who.scopes))})")
                if response is not None:
                    await response(scope, receive, send)
                    return
                scope[PRINCIPAL_KEY] = who
        await self.app(scope, receive, send)
