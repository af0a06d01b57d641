"""The hot route, answered without the framework's layers: ``POST /v1/events`` as plain ASGI.

A single-event ``POST`` is small: most of its cost was FastAPI's and Starlette's layers
(routing over every route, dependency solving that parses cookies, exception and exit
stack middlewares), not accepting the event. :class:`DirectRoute` hands the request to
the same endpoint function, registered with FastAPI as before (so ``/docs`` and the
OpenAPI description are unchanged), and maps its exceptions through the app's own
exception handlers, so answers are the same byte for byte. Every other request goes
through FastAPI.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["DirectRoute"]

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute:
    """Pure ASGI middleware: ``method path`` goes straight to ``endpoint``; the rest to ``app``."""

    def __init__(self, app: FastAPI, method: str, path: str, endpoint: Endpoint) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = endpoint

    def __getattr__(self, name: str) -> Any:  # app.state, app.router… for whoever holds the app
        return getattr(self.app, name)

    def _handler(self, exc: Exception) -> Callable[[Request, Exception], Any] | None:
        for cls in type(exc).__mro__:
            handler = self.app.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # what Request.app reads, as under FastAPI
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:  # a bug: the server answers 500 and logs it, as it would under FastAPI
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)
