"""The support event: what a chatbot posts to ``POST /v1/events``.

The model is strict (unknown fields are rejected) so that a typo in a chatbot's
integration is reported at once instead of silently dropping data.

Example::

    >>> ev = Event.model_validate({"kind": "support_request", "site": "shop.example.com",
    ...                            "conversation_id": "c1", "message": "I want a human"})
    >>> ev.kind
    <Kind.support_request: 'support_request'>
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from notifier.core.tool_calls import read_tool_arguments

__all__ = [
    "HANDOFF_KINDS",
    "Event",
    "Kind",
    "Page",
    "Priority",
    "Tool",
    "Turn",
    "User",
    "new_id",
]


class Kind(StrEnum):
    """What happened in the conversation."""

    support_request = "support_request"
    contact_request = "contact_request"
    message = "message"
    tool_call = "tool_call"
    conversation_started = "conversation_started"
    conversation_ended = "conversation_ended"
    feedback = "feedback"


#: Kinds that mean "a person wants a human": these go to the fallback when no route takes them.
HANDOFF_KINDS = frozenset({Kind.support_request, Kind.contact_request})


class Priority(StrEnum):
    """How urgent a notification is; ordered from ``low`` to ``urgent``."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.urgent: 3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class User(_Strict):
    """The person talking to the chatbot. Details are forwarded only with ``consent``."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    ip: str | None = None
    consent: bool = False


class Page(_Strict):
    """Where the chat took place."""

    url: str | None = None
    title: str | None = None


class Turn(_Strict):
    """One turn of the transcript given for context."""

    role: Literal["user", "assistant", "system"]
    text: str
    at: datetime | None = None


class Tool(_Strict):
    """A tool the bot called, e.g. ``send_support_email``. In a ``tool_call`` event, the
    arguments ``name``, ``email``, ``phone``, ``consent``, ``message``, ``page_url`` and
    ``page_title`` fill the event's ``user``, ``message`` and ``page`` where it has none;
    the arguments themselves are kept as sent."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


def new_id() -> str:
    """A new random event id."""
    return uuid.uuid4().hex


class Event(_Strict):
    """One support event. ``id`` and ``occurred_at`` are filled in on receipt when absent."""

    id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    kind: Kind
    site: str = ""
    conversation_id: str | None = None
    occurred_at: datetime | None = None
    message: str | None = None
    role: Literal["user", "assistant"] | None = None
    user: User | None = None
    page: Page | None = None
    transcript: list[Turn] = Field(default_factory=list)
    tool: Tool | None = None
    locale: str | None = None
    priority: Priority | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tool_arguments(cls, data: Any, handler: ModelWrapValidatorHandler[Event]) -> Event:
        # A tool call's arguments (send_support_email's name, email, message…) fill the
        # event's own fields, so the team sees who asks; see notifier.core.tool_calls.
        if not isinstance(data, dict) or data.get("kind") != "tool_call":
            return handler(data)  # the common case, kept cheap: every event passes here
        data, sources = read_tool_arguments(data)
        if not sources:
            return handler(data)
        try:
            return handler(data)
        except ValidationError as exc:
            raise _renamed(exc, sources) from None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive timestamp is taken as UTC: chatbots often send ISO strings without offset.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def completed(self, now: datetime, event_id: str | None = None) -> Event:
        """This event with its id and time filled in (``event_id`` wins over a generated one)."""
        return self.model_copy(
            update={
                "id": self.id or event_id or new_id(),
                "occurred_at": self.occurred_at or now,
            }
        )

    @property
    def effective_priority(self) -> Priority:
        return self.priority or Priority.normal

    @property
    def consented_user(self) -> User | None:
        """The user's details if they agreed to have them forwarded, else ``None``."""
        return self.user if self.user is not None and self.user.consent else None

    def to_json(self) -> dict[str, Any]:
        """The event as JSON-ready data, without unset optional fields."""
        return self.model_dump(mode="json", exclude_none=True)


def _renamed(exc: ValidationError, sources: dict[tuple[str | int, ...], tuple[str | int, ...]]) -> ValidationError:
    """``exc`` with each error on a field filled from a tool argument named after that argument."""
    errors: list[InitErrorDetails] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        for field, source in sources.items():
            if loc[:len(field)] == field:
                loc = source + loc[len(field):]
                break
        detail: InitErrorDetails = {"type": err["type"], "loc": loc, "input": err["input"]}
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        errors.append(detail)
    return ValidationError.from_exception_data(exc.title, errors)
