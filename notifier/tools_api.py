"""``GET /v1/tools``: the ``send_support_email`` tool, ready to hand to a language model.

``{"openai": [...], "anthropic": [...], "call": {...}}``, or one vendor's list alone with
``?format=openai`` or ``?format=anthropic`` (the ``tools`` array of their APIs as is).
``call`` says how the bot's code runs a call: post a ``tool_call`` event whose
``tool.arguments`` are the model's arguments; the answer's ``case.message_for_user`` is
what to show the user. Any valid token may read it (see :func:`notifier.api_access.required_scope`).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from notifier.tools import SUPPORT_TOOL, anthropic_tool, openai_tool

__all__ = ["tool_router"]

FORMATS = ("openai", "anthropic")


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def tool_router() -> APIRouter:
    """The route."""
    router = APIRouter()

    @router.get("/v1/tools")
    async def list_tools(format: str | None = None) -> Response:
        """The tool definitions, in OpenAI's and Anthropic's formats."""
        if format is not None and format not in FORMATS:
            return _json({"error": f"unknown format {format!r}",
                          "details": [{"path": "format", "message": f"allowed: {', '.join(FORMATS)}"}]}, 422)
        if format == "openai":
            return _json([openai_tool()])
        if format == "anthropic":
            return _json([anthropic_tool()])
        return _json({
            "openai": [openai_tool()],
            "anthropic": [anthropic_tool()],
            "call": {"method": "POST", "path": "/v1/events",
                     "body": {"kind": "tool_call", "site": "<your site>",
                              "tool": {"name": SUPPORT_TOOL, "arguments": "<the model's arguments>"}},
                     "answer": "case.message_for_user is the sentence to show the user",
                     "mcp": "/mcp (Streamable HTTP, same bearer token, scope events:write)"},
        })

    return router
