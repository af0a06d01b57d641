"""The JSON Schema of ``channels.yaml``, so that editors can check the file as it is typed.

``notifier schema > channels.schema.json``, then in VS Code (YAML extension) put
``# yaml-language-server: $schema=channels.schema.json`` at the top of ``channels.yaml``.

>>> json_schema()["title"]
'notifier channels.yaml'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from notifier.config.models import Config
from notifier.core.durations import format_duration

__all__ = ["SCHEMA_DIALECT", "event_json_schema", "json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Generator(GenerateJsonSchema):
    def encode_default(self, dft: Any) -> Any:
        # Show defaults the way an admin writes them ("2s"), not as ISO 8601 ("PT2S").
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that a valid ``channels.yaml`` satisfies.

    Values written as ``${ENV}`` are checked as they are written, before interpolation.
    """
    schema = Config.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "notifier channels.yaml",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event posted to ``POST /v1/events``.

    A batch is a JSON array of such objects. ``notifier schema --event`` prints it, for a
    chatbot's developer to validate what their code sends before it reaches the server.

    >>> sorted(event_json_schema()["required"])
    ['kind']
    """
    from notifier.core.events import Event

    schema = Event.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "notifier event (POST /v1/events)",
        **{k: v for k, v in schema.items() if k != "title"},
    }
