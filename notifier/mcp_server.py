"""``send_support_email`` over the Model Context Protocol, with the official ``mcp`` SDK.

Two transports, one server:

* **stdio** (``notifier mcp``): an MCP host (a chatbot's agent runtime, Claude Desktop…)
  starts the command and speaks JSON-RPC over its stdin and stdout. The process accepts
  events into the store; ``notifier serve`` or ``notifier worker`` delivers them.
* **Streamable HTTP** at ``/mcp`` under the API (``notifier serve``), behind the same
  bearer tokens as ``POST /v1/events`` (scope ``events:write``; a token bound to one site
  posts for that site, any other names it with ``/mcp?site=…``).

The tool's input schema is :func:`notifier.tools.parameters` (taken from the event model);
a call goes through :func:`notifier.tools.call_support_tool`, the same accept path as the
API (dedup, routing, cases), and answers with ``message_for_user`` as text and the whole
outcome (event, case, deliveries) as structured content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mcp_types as types
import structlog
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from notifier import __version__
from notifier.store.base import StoreUnavailable
from notifier.tools import DESCRIPTION, SUPPORT_TOOL, ToolCallRefused, call_support_tool, parameters

if TYPE_CHECKING:
    from notifier.auth import Principal
    from notifier.service import Service

__all__ = ["http_manager", "mcp_server", "run_stdio"]

log = structlog.get_logger(__name__)

_PRINCIPAL = "notifier.principal"  # where the API's AccessGuard leaves the caller (notifier.api_access.PRINCIPAL_KEY)


def _caller(request: Any) -> tuple[Principal | None, str | None]:
    """The token's principal and the ``site`` query parameter of an HTTP call (``None`` on stdio)."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None, None
    site = getattr(request, "query_params", {}).get("site")
    return scope.get(_PRINCIPAL), site


def mcp_server(get_service: Callable[[], Service], *, site: str = "") -> Server[Any]:
    """The MCP server of ``send_support_email``; ``site`` is the default site of its events."""

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(
            name=SUPPORT_TOOL, title="Send the request to the support team", description=DESCRIPTION,
            input_schema=parameters())])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name != SUPPORT_TOOL:
            return types.CallToolResult(content=[types.TextContent(text=f"unknown tool {params.name!r}")],
                                        is_error=True)
        who, asked_site = _caller(ctx.request)
        chosen = asked_site or (next(iter(who.sites)) if who is not None and who.sites and len(who.sites) == 1
                                else site)
        try:
            out = await call_support_tool(get_service(), dict(params.arguments or {}), site=chosen, who=who)
        except ToolCallRefused as exc:
            # A tool error, not a protocol one: the model reads it and can ask the user again.
            return types.CallToolResult(content=[types.TextContent(text=f"not sent: {exc}")],
                                        structured_content={"error": "invalid arguments", "details": exc.details},
                                        is_error=True)
        except StoreUnavailable as exc:
            # Not the exception's text, which the SDK would send: it may name the database's host.
            get_service().store.outage.failed(exc, path="mcp:tools/call")
            return types.CallToolResult(content=[types.TextContent(text=f"not sent: {exc.public}")],
                                        structured_content={"error": exc.public}, is_error=True)
        text = out["message_for_user"] or json.dumps(out, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=out)

    return Server("notifier", version=__version__,
                  instructions="Call send_support_email to hand the user's request to the support team.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def http_manager(get_service: Callable[[], Service]) -> StreamableHTTPSessionManager:
    """The Streamable HTTP endpoint of the server, to mount under the API (stateless, JSON answers).

    Stateless: each POST stands alone, so any API process (or worker behind a balancer)
    answers any call. The SDK's DNS-rebinding check is off: the API's bearer tokens guard
    the endpoint (a browser page cannot forge the ``Authorization`` header).
    """
    return StreamableHTTPSessionManager(
        app=mcp_server(get_service), stateless=True, json_response=True,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))


class _AnsweringUnreadable:
    """The stdio read stream, where a line that is no JSON-RPC message gets an error answer.

    The SDK hands such a line on as an exception, which the server drops: a host that sent
    a batch or a broken line would wait for an answer forever. JSON-RPC answers it with
    ``id: null`` (https://www.jsonrpc.org/specification#error_object): ``-32700`` for text
    that is not JSON, ``-32600`` for JSON that is not one message.
    """

    def __init__(self, inner: Any, write: Any) -> None:
        self.inner = inner
        self.write = write

    @property
    def last_context(self) -> Any:
        """The sender's context, as the SDK's own stream keeps it."""
        return getattr(self.inner, "last_context", None)

    async def receive(self) -> Any:
        """The next message; unreadable lines are answered and skipped."""
        from mcp.shared.message import SessionMessage
        from pydantic import ValidationError

        while True:
            item = await self.inner.receive()
            if not isinstance(item, Exception):
                return item
            not_json = isinstance(item, ValidationError) and \
                any(e["type"] == "json_invalid" for e in item.errors(include_url=False))
            if not_json:
                error = types.ErrorData(code=types.PARSE_ERROR, message="Parse error: the line is not JSON")
            else:
                error = types.ErrorData(code=types.INVALID_REQUEST, message="Invalid Request: the line is not one "
                                        "JSON-RPC message (a JSON array is a batch, which MCP removed in 2025-06-18)")
            log.warning("mcp stdio line refused", code=error.code)
            await self.write.send(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error)))

    async def aclose(self) -> None:
        """Close the SDK's stream."""
        await self.inner.aclose()

    def __aiter__(self) -> _AnsweringUnreadable:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _AnsweringUnreadable:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        result: bool | None = await self.inner.__aexit__(*exc)
        return result


async def run_stdio(service: Service, *, site: str = "") -> None:
    """Serve the tool over stdin/stdout until the host closes them."""
    from mcp.server.stdio import stdio_server

    server = mcp_server(lambda: service, site=site)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(_AnsweringUnreadable(read_stream, write_stream), write_stream,
                         server.create_initialization_options())
