"""The case settings of ``channels.yaml``: response targets and escalation chains.

``defaults.response_target`` and a route's ``response_target`` say how soon a person who
asked for help should get an answer; ``escalate`` lists who is told, and when, if nobody
has claimed the case yet::

    routes:
      - name: human handoff
        match: {kinds: [support_request]}
        to: [support-email]
        response_target: 2h
        escalate:
          - {after: 15m, to: [oncall-sms]}
          - {after: 1h, to: [manager-email], clock: business_hours}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from notifier.core.durations import format_duration, parse_duration

__all__ = ["Acknowledge", "Clock", "EscalationStep"]

_Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
                              {"type": "number", "minimum": 0}],
                    "examples": ["15m", "1h"]}),
]

#: ``wall``: every minute counts; ``business_hours``: only ``defaults.business_hours`` count.
Clock = Literal["wall", "business_hours"]


class EscalationStep(BaseModel):
    """Tell ``to`` when a case is still unclaimed ``after`` it opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: _Duration
    to: list[str] = Field(min_length=1)
    clock: Clock = "wall"


class Acknowledge(BaseModel):
    """Tell the user, by email, that their request was received and when to expect an answer.

    Sent once per case, only when the user gave consent and a valid address, through the
    SMTP server and sender of the email channel ``via``. Templates ``email/ack.subject.*``
    and ``email/ack.body.*`` (fr, en), overridable in the ``templates:`` directory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: str = Field(description="The email channel whose SMTP server and sender are used.")
    enabled: bool = Field(True, description="false on a route turns off an acknowledgement set in defaults.")
