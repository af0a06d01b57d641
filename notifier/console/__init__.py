"""The console: web pages at ``/console`` where a support lead sees the queue and acts.

Served by ``notifier serve`` in the same process as the API. A visitor logs in with an
API token (scope ``read`` to look, ``admin`` to act), exchanged for a session cookie (see
:mod:`notifier.console.session`); every form carries a CSRF token. Pages are rendered on
the server (Jinja2), read without JavaScript, and use a vendored htmx only for the live
queue (server-sent events); nothing is loaded from another host.

>>> from notifier.console import add_console   # add_console(app, get_service, get_authenticator)
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import Response

from notifier.auth import Authenticator
from notifier.console.web import Console
from notifier.service import Service

__all__ = ["STATIC", "add_console", "is_console_path"]

#: The console's static files and their media types.
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
    "sse.min.js": "text/javascript; charset=utf-8",
    "LICENSE-htmx.txt": "text/plain; charset=utf-8",
}


def is_console_path(path: str) -> bool:
    """Whether ``path`` belongs to the console (which checks its own sessions, not bearer tokens)."""
    return path == "/console" or path.startswith("/console/")


def add_console(app: FastAPI, get_service: Callable[[], Service],
                get_authenticator: Callable[[], Authenticator]) -> Console:
    """Serve the console on ``app``, bound to the running service and the tokens in force."""
    from notifier.console.case_page import case_router
    from notifier.console.config_page import config_router
    from notifier.console.deliveries_page import deliveries_router
    from notifier.console.digest_page import digest_router
    from notifier.console.health_page import health_router
    from notifier.console.queue import queue_router
    from notifier.console.route_tester import route_tester_router

    console = Console(get_service, get_authenticator)
    static = files("notifier.console") / "static"

    @app.get("/console/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        media_type = STATIC.get(name)
        if media_type is None:
            return Response(status_code=404)
        return Response((static / name).read_bytes(), media_type=media_type,
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

    app.include_router(queue_router(console))
    app.include_router(case_router(console))
    app.include_router(deliveries_router(console))
    app.include_router(route_tester_router(console))
    app.include_router(config_router(console))
    app.include_router(digest_router(console))
    app.include_router(health_router(console))
    return console
