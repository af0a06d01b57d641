"""What every part of ``channels.yaml`` shares: strict models, durations, retry settings.

Kept apart from :mod:`notifier.config.models` so that each channel's settings, which live
beside its adapter (``notifier/channels/<type>_config.py``), can build on them without
importing the whole configuration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from notifier.core.durations import format_duration, parse_duration

__all__ = ["ChannelSettings", "Duration", "Retry", "RetryOverride", "StrictModel"]

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    # A bare number is seconds, as parse_duration accepts it.
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
                              {"type": "number", "minimum": 0}],
                    "examples": ["30s", "10m", "24h"]}),
]


class StrictModel(BaseModel):
    """A model that refuses unknown keys and never changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)



class Retry(StrictModel):
    """How hard to try before a delivery becomes a dead letter."""

    attempts: int = Field(12, ge=1, le=1000)
    backoff: Duration = timedelta(seconds=2)
    max_backoff: Duration = timedelta(minutes=15)
    give_up_after: Duration = timedelta(hours=24)


class RetryOverride(StrictModel):
    """Per-channel override of :class:`Retry`; unset fields come from ``defaults.retry``."""

    attempts: int | None = Field(None, ge=1, le=1000)
    backoff: Duration | None = None
    max_backoff: Duration | None = None
    give_up_after: Duration | None = None

    def over(self, base: Retry) -> Retry:
        # Attributes, not model_dump(): a dump would turn durations back into strings.
        return base.model_copy(update={k: v for k, v in self if v is not None})



class ChannelSettings(StrictModel):
    """What every channel takes: ``retry``, ``concurrency``, ``timeout`` and ``locale``."""

    retry: RetryOverride | None = None
    concurrency: int = Field(4, ge=1, le=256, description="Sends in flight at once.")
    timeout: Duration = timedelta(seconds=10)
    locale: str | None = None
