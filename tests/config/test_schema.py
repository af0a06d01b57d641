"""The JSON Schema editors use to check channels.yaml agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.config import json_schema
from notifier.config.models import CHANNEL_TYPES

jsonschema = pytest.importorskip("jsonschema")

HERE = Path(__file__).parent
EXAMPLES = [HERE.parent.parent / "channels.yaml", HERE / "design_example.yaml"]


def _validator() -> Any:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_json_with_dialect_title_and_every_channel_type() -> None:
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "notifier channels.yaml"
    mapping = schema["properties"]["channels"]["additionalProperties"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(CHANNEL_TYPES)
    # Defaults are shown the way an admin writes them.
    assert schema["$defs"]["Retry"]["properties"]["max_backoff"]["default"] == "15m"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_schema(example: Path) -> None:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert [e.message for e in _validator().iter_errors(data)] == []


@pytest.mark.parametrize(
    ("data", "word"),
    [
        ({"channels": {"ops": {"tpye": "email"}}}, "type"),
        ({"channels": {"ops": {"type": "email", "too": ["a@example.com"]}}}, "too"),
        ({"defaults": {"retry": {"backoff": "2 minutes"}}}, "2 minutes"),
        ({"routes": [{"name": "r", "to": ["ops"], "match": {"kinds": ["support"]}}]}, "support"),
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(data: dict[str, Any], word: str) -> None:
    errors = list(_validator().iter_errors(data))
    assert errors, f"schema accepted {data}"
    assert any(word in str(e.message) or word in json.dumps(list(e.path)) for e in _iter_all(errors))


def _iter_all(errors: list[Any]) -> list[Any]:
    out = []
    for e in errors:
        out.append(e)
        out += _iter_all(list(e.context or []))
    return out
