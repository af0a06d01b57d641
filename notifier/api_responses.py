"""The HTTP API's JSON answers, shared by ``notifier.api`` and the routers it includes.

Every error has one shape, whichever router answers it::

    {"error": "no case 'c-42'", "details": [{"path": "by", "message": "…"}]}

``details`` names the fields at fault when there are any; a router may add keys of its
own (a ``409`` on a case names its ``holder``).

>>> error_response(404, "no case 'c-42'").body
b'{"error":"no case \\'c-42\\'"}'
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

__all__ = ["JSONBody", "error_response", "json_response"]


class JSONBody(Response):
    """A JSON response encoded by orjson (the API's default response class)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status: int = 200) -> JSONBody:
    """``content`` as JSON with ``status``."""
    return JSONBody(content, status_code=status)


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None,
                   **extra: Any) -> JSONBody:
    """``{"error": message}``, with ``details`` (the fields at fault) when given and any ``extra`` keys."""
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return JSONBody({**body, **extra}, status_code=status)
