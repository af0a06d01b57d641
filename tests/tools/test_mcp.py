"""``send_support_email`` over MCP: a real client of the official SDK, over stdio and Streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.service import Service
from notifier.store import store_for
from notifier.store.cases import CaseStore
from notifier.tools import parameters
from tests.conftest import ServiceFactory
from tests.sink import Sink
from tests.test_cases_api import cases_config

BOT = "ntf_mcp-bot-writer-0123456789"
SHOP_BOT = "ntf_mcp-shop-writer-0123456789"
READER = "ntf_mcp-reader-0123456789"
ARGS = {"message": "Je voudrais parler à un conseiller", "name": "Marie", "email": "marie@example.com",
        "conversation_id": "conv-mcp", "locale": "en"}


@pytest.mark.slow  # a process of its own, as an MCP host starts it
async def test_stdio_a_host_starts_notifier_mcp_and_the_call_opens_a_case(tmp_path: Path, sink: Sink) -> None:
    config = tmp_path / "channels.yaml"
    config.write_text(cases_config(sink.url), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'notifier.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "NOTIFIER_API_TOKEN": ""}
    params = StdioServerParameters(command=sys.executable, args=["-m", "notifier.cli", "mcp", "--config", str(config),
                                                                 "--db", db, "--site", "shop"], env=env)
    async with Client(params, read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["send_support_email"]
        assert tools[0].input_schema == parameters()
        result = await client.call_tool("send_support_email", ARGS)
        refused = await client.call_tool("send_support_email", {"message": "x", "email": 3})
    assert not result.is_error
    out = result.structured_content
    assert out["case"]["status"] == "open"
    assert result.content[0].text == out["message_for_user"] == out["case"]["message_for_user"]
    assert out["message_for_user"].startswith("We have received your request.")
    # A bad argument is a tool error naming it (the model can ask again), and nothing is stored.
    assert refused.is_error and refused.structured_content["details"][0]["path"] == "tool.arguments.email"
    store = store_for(db)
    await store.open()
    try:
        case = await CaseStore(store.connector()).get(out["case"]["id"])
        event = await store.get_event(out["id"])
    finally:
        await store.close()
    assert case is not None and case.site == "shop" and case.conversation_id == "conv-mcp"
    assert event is not None and event[0].kind.value == "tool_call" and event[0].user is not None
    assert event[0].user.email == "marie@example.com"


@pytest.fixture
async def served(make_service: ServiceFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The API on a loopback port (uvicorn, lifespan on): its base URL."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service: Service = await make_service(cases_config(sink.url, f"""
auth:
  tokens:
    - {{name: bot, secret: "{hash_token(BOT)}", scopes: ["events:write"]}}
    - {{name: shop-bot, secret: "{hash_token(SHOP_BOT)}", scopes: ["events:write"], sites: [shop]}}
    - {{name: reader, secret: "{hash_token(READER)}", scopes: [read]}}
"""))
    server = uvicorn.Server(uvicorn.Config(create_app(service, manage=False), host="127.0.0.1", port=0,
                                           lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 30)


def _client(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60)


async def test_http_the_same_tool_under_the_api_with_the_same_tokens(served: str) -> None:
    async with _client(f"{served}/mcp", SHOP_BOT) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["send_support_email"]
        result = await client.call_tool("send_support_email", ARGS)
    assert not result.is_error
    out = result.structured_content
    assert result.content[0].text == out["message_for_user"]
    # The token bound to one site posts for it; the case is the API's.
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {READER}"}) as api:
        case = (await api.get(f"/v1/cases/{out['case']['id']}")).json()
    assert case["site"] == "shop" and case["events"][0]["kind"] == "tool_call"
    # The same request again through the API joins the same case (one accept path).
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {BOT}"}) as api:
        again = (await api.post("/v1/events", json={"kind": "support_request", "site": "shop",
                                                    "conversation_id": "conv-mcp", "message": "?"})).json()
    assert again["case"]["id"] == out["case"]["id"]


async def test_http_a_token_bound_to_a_site_cannot_post_for_another(served: str) -> None:
    async with _client(f"{served}/mcp?site=other", SHOP_BOT) as client:
        result = await client.call_tool("send_support_email", ARGS)
    assert result.is_error and result.structured_content["details"][0]["path"] == "site"


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("ntf_wrong", 401), (READER, 403)])
async def test_http_needs_a_token_that_may_post_events(served: str, token: str | None, status: int) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "send_support_email", "arguments": ARGS}}
    async with httpx.AsyncClient(base_url=served) as raw:
        answer = await raw.post("/mcp", json=body, headers=headers)
    assert answer.status_code == status


_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
            "Authorization": f"Bearer {BOT}"}


async def test_http_a_body_over_the_api_limit_is_refused_before_it_is_read(served: str) -> None:
    # A client that declares 2 GB (and may trickle it for as long as the server waits) is
    # answered at once, as POST /v1/events answers it, not after the body was buffered whole.
    host, port = served.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {BOT}\r\n"
            "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
            "Content-Length: 2000000000\r\n\r\n")
    writer.write(head.encode() + b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {')
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    assert status_line.split()[1] == b"413"

async def test_http_what_is_not_one_request_is_refused_with_invalid_request(served: str) -> None:
    call = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "send_support_email", "arguments": ARGS}}
    async with httpx.AsyncClient(base_url=served, timeout=60) as raw:
        # MCP removed JSON-RPC batches in its 2025-06-18 revision
        # (https://modelcontextprotocol.io/specification/2025-06-18/changelog): say so.
        batch = await raw.post("/mcp", json=[{**call, "id": 1}, {**call, "id": 2}], headers=_HEADERS)
        assert batch.status_code == 400
        assert batch.json()["error"]["code"] == -32600 and "batch" in batch.json()["error"]["message"]
        # "Requests MUST include a string or integer ID. Unlike base JSON-RPC, the ID MUST NOT be
        # null" (https://modelcontextprotocol.io/specification/2024-11-05/basic/messages). Such a
        # call was taken for a notification: 202, no answer, and the user's request went nowhere.
        for wrong in (None, 1.5, {"n": 1}, [1], True):
            r = await raw.post("/mcp", json={**call, "id": wrong}, headers=_HEADERS)
            assert r.status_code == 400, (wrong, r.status_code, r.text)
            error = r.json()["error"]
            assert error["code"] == -32600 and "id" in error["message"], wrong
        api = {"Authorization": f"Bearer {READER}"}
        assert (await raw.get("/v1/deliveries", headers=api)).json()["deliveries"] == []


async def test_http_tool_call_parameters_of_the_wrong_shape_are_named(served: str) -> None:
    def call(params: object) -> dict[str, object]:
        return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}

    async with httpx.AsyncClient(base_url=served, timeout=60) as raw:
        for params, field in ((["send_support_email"], "params"),
                              ({"name": 5, "arguments": ARGS}, "params.name"),
                              ({"name": "send_support_email", "arguments": [ARGS]}, "params.arguments"),
                              ({"name": "send_support_email", "arguments": "message=help"}, "params.arguments")):
            r = await raw.post("/mcp", json=call(params), headers=_HEADERS)
            answer = r.json()
            # A JSON-RPC error for this request (its id), code -32602 Invalid params, naming the field.
            assert answer["id"] == 7 and answer["error"]["code"] == -32602, answer
            assert answer["error"]["message"].startswith(f"{field} must be"), answer


async def test_http_a_get_stream_is_refused_not_held_open(served: str) -> None:
    # The server is stateless and never speaks first: a GET used to open an event stream that
    # stayed empty and open (a connection held for as long as the client liked, per request).
    async with httpx.AsyncClient(base_url=served, timeout=30) as raw:
        r = await raw.get("/mcp", headers={**_HEADERS, "Accept": "text/event-stream"})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == -32600


@pytest.mark.slow  # a process of its own, as an MCP host starts it
async def test_stdio_a_line_that_is_no_message_is_answered_and_the_session_goes_on(tmp_path: Path, sink: Sink) -> None:
    config = tmp_path / "channels.yaml"
    config.write_text(cases_config(sink.url), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "NOTIFIER_API_TOKEN": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "notifier.cli", "mcp", "--config", str(config), "--db",
        f"sqlite:///{tmp_path / 'notifier.db'}", "--site", "shop", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}}}
    # A broken line and a batch used to get no answer at all: the host waited for ever.
    process.stdin.write(b"{not json\n" + json.dumps([initialize]).encode() + b"\n" + json.dumps(initialize).encode()
                        + b"\n")
    await process.stdin.drain()
    try:
        answers = [json.loads(await asyncio.wait_for(process.stdout.readline(), 60)) for _ in range(3)]
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 60)
    assert [(a["id"], a.get("error", {}).get("code")) for a in answers] == [(None, -32700), (None, -32600), (1, None)]
    assert answers[2]["result"]["serverInfo"]["name"] == "notifier"
