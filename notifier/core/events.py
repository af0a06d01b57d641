"""The support event: what a chatbot posts to ``POST /v1/events``.

The model is strict (unknown fields are rejected) so that a typo in a chatbot's
integration is reported at once instead of silently dropping data.

It is also the one place where limits are enforced (:data:`LIMITS`): what it accepts, the
store can read back and every channel can render. Strings have a maximum length (a NUL
character, which PostgreSQL cannot store, becomes U+FFFD), ``tool.arguments`` is nested at most
:data:`MAX_DEPTH` levels deep, lists and maps are bounded, and times lie in the years
2000-2099 (whatever the offset), so no conversion to local time can overflow.

Example::

    >>> ev = Event.model_validate({"kind": "support_request", "site": "shop.example.com",
    ...                            "conversation_id": "c1", "message": "I want a human"})
    >>> ev.kind
    <Kind.support_request: 'support_request'>
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, SchemaValidator, core_schema

from notifier.core.tool_calls import read_tool_arguments

__all__ = [
    "HANDOFF_KINDS",
    "LIMITS",
    "MAX_BATCH",
    "MAX_DEPTH",
    "NUL_FREE",
    "Event",
    "Kind",
    "Page",
    "Priority",
    "Tool",
    "Turn",
    "User",
    "addressable",
    "event_link",
    "new_id",
    "new_ids",
    "received_json",
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

#: Most events in one ``POST /v1/events`` batch (more is a ``413``).
MAX_BATCH = 1000
#: How deep ``tool.arguments`` may nest objects and arrays (the arguments object is level 1).
MAX_DEPTH = 8
#: Maximum lengths in characters, per field, and sizes of lists and maps.
LIMITS: dict[str, int] = {
    "id": 200, "site": 255, "conversation_id": 200, "message": 64_000, "locale": 35,
    "user.name": 200, "user.email": 320, "user.phone": 64, "user.ip": 64,
    "page.url": 4096, "page.title": 4096,
    "transcript": 200, "transcript.text": 64_000,
    "tool.name": 200, "tool.arguments.string": 64_000, "tool.arguments.key": 200, "tool.arguments.items": 1000,
    "labels": 50, "labels.key": 100, "labels.value": 1000,
}
_EARLIEST_YEAR, _LATEST_YEAR = 2000, 2099
#: Validation context key: the input is known to hold no NUL character (a stored event, a
#: request body without ``\\u0000``), so it need not be searched for one.
NUL_FREE = "nul_free"


def _without_nul(data: Any) -> Any:
    """``data`` with every NUL character (in strings and keys, at any depth) replaced by U+FFFD.

    PostgreSQL cannot store NUL in text or JSON, and no channel can show it: replacing it
    keeps the request (refusing would lose a person's request for one invisible character).
    Iterative, so a deeply nested value cannot exhaust the stack before the limits apply.
    """
    def clean(value: Any) -> Any:
        return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value

    if isinstance(data, str):
        return clean(data)
    if not isinstance(data, dict | list):
        return data
    try:  # the common case, answered fast (in C): no NUL anywhere, nothing to copy
        if b"\\u0000" not in orjson.dumps(data):
            return data
    except (TypeError, ValueError):  # not JSON data (or too deep for the encoder): walk it
        pass
    root: Any = dict(data) if isinstance(data, dict) else list(data)
    stack: list[Any] = [root]
    visited = 0
    while stack and visited < 100_000:  # beyond that, the limits refuse the event anyway
        node = stack.pop()
        visited += 1
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if isinstance(node, dict) and any(isinstance(k, str) and "\x00" in k for k, _ in items):
            node.clear()
            node.update((clean(k), v) for k, v in items)
            items = list(node.items())
        for key, value in items:
            if isinstance(value, dict | list):
                copy: Any = dict(value) if isinstance(value, dict) else list(value)
                node[key] = copy
                stack.append(copy)
            elif isinstance(value, str) and "\x00" in value:
                node[key] = clean(value)
    return root


# Strings by their size limit (LIMITS says which field takes which).
Name = Annotated[str, Field(max_length=200)]
Host = Annotated[str, Field(max_length=255)]
LongText = Annotated[str, Field(max_length=64_000)]
Locale = Annotated[str, Field(max_length=35)]
Address = Annotated[str, Field(max_length=320)]
Short = Annotated[str, Field(max_length=64)]
Url = Annotated[str, Field(max_length=4096)]
PageTitle = Url
LabelValue = Annotated[str, Field(max_length=1000)]
LabelKey = Annotated[str, Field(max_length=100)]


def _sane_time(value: datetime | None) -> datetime | None:
    # A naive timestamp is taken as UTC: chatbots often send ISO strings without offset.
    if value is None:
        return None
    if not _EARLIEST_YEAR <= value.year <= _LATEST_YEAR:
        # Year 1 or 9999 with an offset overflows when converted to another time zone.
        raise ValueError(f"must lie in the years {_EARLIEST_YEAR}-{_LATEST_YEAR}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Time = Annotated[datetime, AfterValidator(_sane_time),
                 Field(json_schema_extra={"pattern": f"^{_EARLIEST_YEAR // 100}[0-9]{{2}}-"})]


def _check_arguments(value: Any) -> Any:
    """Bound depth, size and strings of a JSON value without recursion (a deep one must not blow the stack)."""
    if not isinstance(value, dict):
        return value  # the type check after this one says what is wrong
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    items = 0
    while stack:
        node, depth, where = stack.pop()
        items += 1
        if items > LIMITS["tool.arguments.items"]:
            raise ValueError(f"holds more than {LIMITS['tool.arguments.items']} values")
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels (at {where.lstrip('.') or 'the top'})")
            pairs = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in pairs:
                if isinstance(key, str):
                    if len(key) > LIMITS["tool.arguments.key"]:
                        raise ValueError(f"a key is longer than {LIMITS['tool.arguments.key']} characters")
                elif isinstance(node, dict):
                    raise ValueError("keys must be strings")
                stack.append((child, depth + 1, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"))
        elif isinstance(node, str):
            if len(node) > LIMITS["tool.arguments.string"]:
                raise ValueError(f"{where.lstrip('.')}: longer than {LIMITS['tool.arguments.string']} characters")
        elif node is not None and not isinstance(node, bool | int | float):
            raise ValueError(f"{where.lstrip('.')}: not a JSON value")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class User(_Strict):
    """The person talking to the chatbot. Details are forwarded only with ``consent``."""

    name: Name | None = None
    email: Address | None = None
    phone: Short | None = None
    ip: Short | None = None
    consent: bool = False


class Page(_Strict):
    """Where the chat took place."""

    url: Url | None = None
    title: PageTitle | None = None


class Turn(_Strict):
    """One turn of the transcript given for context."""

    role: Literal["user", "assistant", "system"]
    text: LongText
    at: Time | None = None


class Tool(_Strict):
    """A tool the bot called, e.g. ``send_support_email``. In a ``tool_call`` event, the
    arguments ``name``, ``email``, ``phone``, ``consent``, ``message``, ``page_url`` and
    ``page_title`` fill the event's ``user``, ``message`` and ``page`` where it has none;
    the arguments themselves are kept as sent."""

    name: Name
    #: Any JSON object, nested at most :data:`MAX_DEPTH` levels.
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return _check_arguments(value)


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 4 and 4.0 are the same rating, true and "4" are not ratings.
    if isinstance(value, bool) or not isinstance(value, int | float | None):
        raise ValueError("must be a whole number from 1 to 5")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number from 1 to 5")
        return int(value)
    return value


def new_id() -> str:
    """A new event id: see :func:`new_ids`."""
    return new_ids(1)[0]


# A version-7 UUID (RFC 9562): 48 bits of Unix time in milliseconds, then the version,
# 74 random bits and the variant.
_UUID7_RANDOM = (1 << 74) - 1
_UUID7_VERSION = 7 << 76
_UUID7_VARIANT = 0b10 << 62


def new_ids(n: int) -> list[str]:
    """``n`` new ids: version-7 UUIDs as 32 lower-case hex digits, from one read of randomness.

    Time first, so ids made close together sort close together: each table keyed by them
    (deliveries, cases) grows at its end instead of dirtying a random page of its index
    per row, which is most of what committing a batch writes. The 74 random bits keep ids
    unguessable and distinct; the last digits, which partition the deliveries between
    workers, stay random. A read of randomness per id would be a system call each, which
    also lets the database thread take the interpreter lock between ids.
    """
    if n <= 0:
        return []
    head = (time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) << 80 | _UUID7_VERSION
    raw = os.urandom(10 * n)
    return [f"{head | _uuid7_tail(int.from_bytes(raw[i:i + 10], 'big')):032x}" for i in range(0, 10 * n, 10)]


def _uuid7_tail(bits: int) -> int:
    # 80 random bits in: 12 go under the version, 62 under the variant (74 in all).
    return (bits >> 62 & 0xFFF) << 64 | _UUID7_VARIANT | bits & ((1 << 62) - 1)


#: Ids a URL cannot carry: clients and browsers resolve ``.`` and ``..`` (``%2E`` too) as
#: dot segments, so ``/v1/events/..`` and the alerts' link to such an event lead elsewhere.
_DOT_SEGMENTS = (".", "..")


def addressable(value: str) -> str:
    """``value``, if a URL can name an event by it (see :data:`_DOT_SEGMENTS`); else ``ValueError``."""
    if value in _DOT_SEGMENTS:
        raise ValueError("an id cannot be '.' or '..': a URL could not name the event")
    return value


class Event(_Strict):
    """One support event. ``id`` and ``occurred_at`` are filled in on receipt when absent."""

    # The JSON Schema says what the validator below checks: only feedback carries a rating.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"allOf": [{
        "if": {"properties": {"kind": {"const": "feedback"}}},
        "else": {"properties": {"rating": {"type": "null"}}}}]})

    id: Annotated[str, Field(min_length=1, max_length=LIMITS["id"],
                             json_schema_extra={"not": {"enum": list(_DOT_SEGMENTS)}}),
                  AfterValidator(addressable)] | None = None
    kind: Kind
    site: Host = ""
    conversation_id: Name | None = None
    occurred_at: Time | None = None
    message: LongText | None = None
    role: Literal["user", "assistant"] | None = None
    user: User | None = None
    page: Page | None = None
    transcript: list[Turn] = Field(default_factory=list, max_length=LIMITS["transcript"])
    tool: Tool | None = None
    locale: Locale | None = None
    priority: Priority | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=LIMITS["labels"])
    #: For ``feedback``: the user's rating of the answer, 1 (bad) to 5 (very good); it is
    #: linked to the conversation's case and feeds the digest's satisfaction.
    rating: Annotated[int, Field(ge=1, le=5), BeforeValidator(_whole_number)] | None = None

    @field_validator("rating")
    @classmethod
    def _rating_is_feedback(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("kind") is not Kind.feedback:
            raise ValueError("only a feedback event carries a rating")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _tool_arguments(cls, data: Any, handler: ModelWrapValidatorHandler[Event], info: ValidationInfo) -> Event:
        # A tool call's arguments (send_support_email's name, email, message…) fill the
        # event's own fields, so the team sees who asks; see notifier.core.tool_calls.
        if not (info.context and info.context.get(NUL_FREE)):
            data = _without_nul(data)
        if not isinstance(data, dict) or data.get("kind") != "tool_call":
            return handler(data)  # the common case, kept cheap: every event passes here
        data, sources = read_tool_arguments(data)
        if not sources:
            return handler(data)
        try:
            return handler(data)
        except ValidationError as exc:
            raise _renamed(exc, sources) from None

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

    @classmethod
    def from_stored_json(cls, text: str | bytes) -> Event:
        """The event stored as JSON ``text``, validated again (stored events predate today's limits).

        Text without a NUL (raw or escaped, the usual case) skips the NUL scan: the worker
        loads every delivery's event, and that scan re-encoded the whole event each time.
        """
        nul_free = ("\\u0000" not in text and "\x00" not in text) if isinstance(text, str) \
            else (b"\\u0000" not in text and b"\x00" not in text)
        if nul_free and (b'"tool_call"' not in text if isinstance(text, bytes) else '"tool_call"' not in text):
            # Neither a NUL to replace nor a tool call's arguments to read: the wrap validator
            # would only hand the data on, at the price of a Python call and a dict built from
            # the JSON. What fails here is validated again below, for the errors' full names.
            with contextlib.suppress(ValidationError):
                event: Event = _FIELDS_ONLY.validate_json(text)
                if event.kind is not Kind.tool_call:
                    return event
        return cls.model_validate_json(text, context={NUL_FREE: True} if nul_free else None)

    @classmethod
    def from_stored_data(cls, data: dict[str, Any]) -> Event:
        """The event stored as JSON ``data`` by PostgreSQL, validated again (see :meth:`from_stored_json`).

        ``jsonb`` cannot hold a NUL, so only a tool call needs the wrap validator.
        """
        if data.get("kind") != Kind.tool_call.value:
            with contextlib.suppress(ValidationError):  # what fails is validated again below, for its errors
                event: Event = _FIELDS_ONLY.validate_python(data)
                return event
        return cls.model_validate(data)  # a tool call (rare): the whole validation, as any input


#: :class:`Event`'s validation without its wrap validator (:meth:`Event._tool_arguments`):
#: the same fields, limits and field validators, for input known to need neither step.
_FIELDS_ONLY = SchemaValidator(Event.__pydantic_core_schema__["schema"])
_FIELDS_ONLY_LIST = SchemaValidator(core_schema.list_schema(Event.__pydantic_core_schema__["schema"]))


def received_json(raw: bytes, *, batch: bool) -> list[Event] | None:
    """The events of a request body (one event, or with ``batch`` a JSON array of them)
    validated straight from its bytes, when the usual validation would add nothing to it;
    ``None`` otherwise, and when the body is not valid: validate its parsed data then, for
    the errors' full names.

    ``raw`` must be JSON already parsed once (by orjson: the API's gate of what is JSON).
    The usual path builds every event's dict first and passes each through the wrap
    validator, which only hands it on when the body holds no NUL (raw or escaped) and no
    tool call. A tool's arguments are any JSON, which this parser reads differently (an
    integer beyond 64 bits stays one, where orjson gives a float that every encoder can
    write back), so any event with a tool goes the usual way too.
    """
    if b"\\u0000" in raw or b"\x00" in raw or b'"tool' in raw:
        return None
    try:
        events: list[Event] = _FIELDS_ONLY_LIST.validate_json(raw) if batch else [_FIELDS_ONLY.validate_json(raw)]
    except ValidationError:
        return None
    if any(e.tool is not None or e.kind is Kind.tool_call for e in events):  # written with escapes
        return None
    return events


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


def event_link(event_url: str | None, event_id: str) -> str | None:
    """The agents' link to an event: ``defaults.event_url`` with ``{id}`` filled in.

    The id is the client's own key, any text, and a browser may send it: it goes in as one
    percent-encoded path segment, so ``x|Voir> <!channel>`` can neither close a Slack
    ``<url|label>`` link and ping the channel, nor ``../`` or ``?`` lead elsewhere.

        >>> event_link("https://n.example.com/v1/events/{id}", "a/b?c|d")
        'https://n.example.com/v1/events/a%2Fb%3Fc%7Cd'
    """
    return event_url.format(id=quote(event_id, safe="")) if event_url else None
