"""`notifier schema --event`: a JSON Schema a chatbot developer can check their events against."""

from __future__ import annotations

import json

import jsonschema
import pytest

from notifier.cli import main

README_EVENT = {
    "kind": "support_request", "site": "shop.example.com", "conversation_id": "conv-42",
    "message": "Je voudrais parler à un conseiller",
    "page": {"url": "https://shop.example.com/commande", "title": "Suivi de commande"},
    "user": {"name": "Marie", "email": "marie@example.com", "ip": "203.0.113.7", "consent": True},
}


@pytest.fixture
def schema(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["schema", "--event"]) == 0
    loaded: dict[str, object] = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_the_readme_event_and_a_tool_call_are_valid(schema: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(README_EVENT)) == []
    tool_call = {"kind": "tool_call", "site": "shop.example.com",
                 "tool": {"name": "send_support_email", "arguments": {"email": "marie@example.com"}}}
    assert list(validator.iter_errors(tool_call)) == []


@pytest.mark.parametrize(("event", "says"), [
    ({**README_EVENT, "colour": "blue"}, "colour"),      # unknown fields are refused, as by the API
    ({**README_EVENT, "kind": "support"}, "support"),
    ({"site": "shop.example.com"}, "kind"),
])
def test_what_the_api_refuses_the_schema_refuses(schema: dict[str, object], event: dict[str, object],
                                                 says: str) -> None:
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(event))
    assert errors and says in " ".join(e.message for e in errors)
