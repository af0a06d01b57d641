"""What ``/mcp`` refuses before the MCP SDK reads a request, and why it says so itself.

The SDK answers a JSON-RPC batch with a dump of its validation errors, takes a request
whose ``id`` is ``null``, a fraction or an object for a notification (``202``, no answer,
and a ``tools/call`` that never ran), and refuses ``tools/call`` parameters of the wrong
shape with ``Invalid request parameters`` and nothing more. Each is a client's mistake;
a developer reading the answer should see which field is wrong. And a ``GET`` is answered
``405``: a stateless server has no stream of its own to offer.

>>> problem(b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]').message[:30]
'a JSON array (a JSON-RPC batch'
>>> problem(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": []}}').message
'params.arguments must be an object (the arguments by name), not an array'
>>> problem(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}') is None
True

Error codes are JSON-RPC's (https://www.jsonrpc.org/specification#error_object):
``-32600`` Invalid Request, ``-32602`` Invalid params.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from notifier.api_responses import json_type
from notifier.http_guard import read_body

__all__ = ["INVALID_PARAMS", "INVALID_REQUEST", "MAX_BODY", "Refusal", "guarded", "problem"]

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
#: The SDK's own limit (``DEFAULT_MAX_REQUEST_BODY_SIZE``, 4 MiB), checked before the body is read whole.
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Refusal:
    """A JSON-RPC error answered in the SDK's stead: HTTP status, code, the request's id, message."""

    status: int
    code: int
    id: Any
    message: str

    def response(self) -> Response:
        """The answer, a JSON-RPC error response."""
        body = {"jsonrpc": "2.0", "id": self.id, "error": {"code": self.code, "message": self.message}}
        return Response(orjson.dumps(body), status_code=self.status, media_type="application/json")


def problem(raw: bytes) -> Refusal | None:
    """Why ``raw`` is not one JSON-RPC message the server can take; ``None``: the SDK reads it."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the SDK's parse error (-32700) says where
    if isinstance(message, list):
        # https://modelcontextprotocol.io/specification/2025-06-18/changelog: batching removed.
        return Refusal(400, INVALID_REQUEST, None, "a JSON array (a JSON-RPC batch) is not accepted: MCP removed "
                                                   "batching in its 2025-06-18 revision; send one message per request")
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None
    ident = message["id"]
    # "Requests MUST include a string or integer ID. Unlike base JSON-RPC, the ID MUST NOT be
    # null" (https://modelcontextprotocol.io/specification/2024-11-05/basic/messages).
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        return Refusal(400, INVALID_REQUEST, None,
                       f"a request's id must be a string or an integer, not {json_type(ident)}")
    if message["method"] != "tools/call":
        return None
    # CallToolRequestParams: {name: string, arguments?: object}
    # (https://modelcontextprotocol.io/specification/2025-06-18/server/tools#calling-tools).
    params = message.get("params")
    if not isinstance(params, dict):
        return Refusal(200, INVALID_PARAMS, ident, f"params must be an object with the tool's name and arguments, "
                                                   f"not {json_type(params)}")
    if not isinstance(params.get("name"), str):
        return Refusal(200, INVALID_PARAMS, ident, f"params.name must be the tool's name (a string), "
                                                   f"not {json_type(params.get('name'))}")
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        return Refusal(200, INVALID_PARAMS, ident, f"params.arguments must be an object (the arguments by name), "
                                                   f"not {json_type(arguments)}")
    return None


async def guarded(handle: Any, scope: Any, receive: Any, send: Any) -> None:
    """Call the ASGI ``handle`` once a POST's body is known to be one message it can take."""
    if scope.get("method") == "GET":
        # The server is stateless and sends nothing of its own accord: a GET stream would stay
        # open, empty, for as long as the client likes, holding a connection the cap counts as
        # busy. "The server MUST either return Content-Type: text/event-stream in response to
        # this HTTP GET, or else return HTTP 405 Method Not Allowed"
        # (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#listening-for-messages-from-the-server).
        response = Refusal(405, INVALID_REQUEST, None, "Method Not Allowed: this server sends no messages of its "
                                                       "own (no GET stream); POST each request").response()
        response.headers["Allow"] = "POST"
        await response(scope, receive, send)
        return
    if scope.get("method") != "POST":
        await handle(scope, receive, send)
        return
    raw = await read_body(Request(scope, receive), MAX_BODY)
    refusal = Refusal(413, INVALID_REQUEST, None, f"the body is larger than {MAX_BODY} bytes") if raw is None \
        else problem(raw)
    if refusal is not None:
        await refusal.response()(scope, receive, send)
        return
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:  # the body, read once here, then whatever the client does next
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    await handle(scope, replay, send)
