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

__all__ = ["SCHEMA_DIALECT", "json_schema"]

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
