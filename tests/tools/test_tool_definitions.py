"""``GET /v1/tools``: the tool a chatbot hands its language model, and calling it through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.core.events import LIMITS
from notifier.service import Service
from tests.conftest import ServiceFactory
from tests.sink import Sink
from tests.test_cases_api import FRIDAY_EVENING, Clock, cases_config

BOT = "ntf_tools-bot-writer-0123456789"
READER = "ntf_tools-reader-0123456789"


@pytest.fixture
async def client(make_service: ServiceFactory, sink: Sink,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    service: Service = await make_service(cases_config(sink.url, f"""
auth:
  tokens:
    - {{name: bot, secret: "{hash_token(BOT)}", scopes: ["events:write"]}}
    - {{name: reader, secret: "{hash_token(READER)}", scopes: [read]}}
"""), clock=Clock(FRIDAY_EVENING))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {BOT}"}) as c:
        yield c


async def test_both_vendor_formats_describe_one_tool(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/tools")).json()
    (openai,) = body["openai"]
    (anthropic,) = body["anthropic"]
    # OpenAI Chat Completions: {"type": "function", "function": {name, description, parameters}}.
    assert openai["type"] == "function"
    assert openai["function"]["name"] == anthropic["name"] == "send_support_email"
    # Anthropic Messages API: {name, description, input_schema}, the schema an object.
    assert anthropic["input_schema"] == openai["function"]["parameters"]
    assert anthropic["input_schema"]["type"] == "object"
    assert anthropic["description"] == openai["function"]["description"]
    # ?format= gives one vendor's tools array as is.
    assert (await client.get("/v1/tools?format=anthropic")).json() == [anthropic]
    assert (await client.get("/v1/tools?format=openai")).json() == [openai]
    bad = await client.get("/v1/tools?format=gemini")
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "format"


async def test_the_schema_carries_the_event_limits(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/v1/tools?format=anthropic")).json()[0]["input_schema"]
    props = schema["properties"]
    assert props["email"]["maxLength"] == LIMITS["user.email"]
    assert props["message"]["maxLength"] == LIMITS["message"]
    assert props["consent"]["type"] == "boolean"
    assert schema["required"] == ["message"]
    # What the schema lets a model send, the API accepts; what it refuses, the API refuses too.
    good = {"message": "Je veux parler à quelqu'un", "name": "Marie", "email": "marie@example.com",
            "conversation_id": "conv-42", "locale": "fr"}
    jsonschema.validate(good, schema)
    too_long = {"message": "x", "email": "a" * 400 + "@example.com"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(too_long, schema)
    answer = await client.post("/v1/events", json={"kind": "tool_call", "site": "shop",
                                                   "tool": {"name": "send_support_email", "arguments": too_long}})
    assert answer.status_code == 422
    assert answer.json()["details"][0]["path"] == "tool.arguments.email"


async def test_calling_the_tool_opens_the_conversations_case(client: httpx.AsyncClient) -> None:
    arguments: dict[str, Any] = {"message": "Pouvez-vous me rappeler ?", "name": "Marie", "phone": "+33 6 12 34 56 78",
                                 "conversation_id": "conv-42", "locale": "fr"}
    answer = await client.post("/v1/events", json={"kind": "tool_call", "site": "shop", "tool": {
        "name": "send_support_email", "arguments": arguments}})
    assert answer.status_code == 202
    case = answer.json()["case"]
    # Friday 19:00 in Paris with a 2h target in business hours: Monday 11:00.
    assert case["message_for_user"] == ("Nous avons bien reçu votre demande. Un membre de l'équipe vous "
                                        "répondra d'ici lundi 11:00.")
    # conversation_id came from the arguments: a later request of that chat joins the case.
    again = await client.post("/v1/events", json={"kind": "support_request", "site": "shop",
                                                  "conversation_id": "conv-42", "message": "Toujours là ?"})
    assert again.json()["case"]["id"] == case["id"]


async def test_any_valid_token_reads_the_definitions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tools", headers={"Authorization": f"Bearer {READER}"})).status_code == 200
    assert (await client.get("/v1/tools", headers={"Authorization": "Bearer nope"})).status_code == 401
