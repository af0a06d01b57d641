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
from pydantic import ValidationError

from notifier.config.errors import format_path

__all__ = ["JSONBody", "error_response", "json_response", "json_type", "validation_details"]


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


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def json_type(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words ("an array", "null")."""
    return _JSON_TYPES.get(type(value), "a value")


def validation_details(exc: ValidationError, *, batch: bool) -> list[dict[str, Any]]:
    """The ``details`` of a refused event (or batch, each path led by its ``[index]``): one
    ``{"path", "message"}`` per field at fault, in the words the API answers with."""
    out = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        path = format_path(loc)
        if batch and loc and isinstance(loc[0], int):
            path = f"[{loc[0]}]" + ("." + format_path(loc[1:]) if len(loc) > 1 else "")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif err["type"] in ("model_type", "dict_type"):
            # pydantic says "a valid dictionary or instance of User": a client sends JSON.
            sent = json_type(err["input"])
            msg = f"should be a JSON object, not {sent}" if loc else \
                f"the body should be a JSON object (one event) or an array of them, not {sent}"
        item: dict[str, Any] = {"path": path, "message": msg}
        if batch and loc and isinstance(loc[0], int):
            item["index"] = loc[0]
        out.append(item)
    return out
