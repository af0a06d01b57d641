"""The OpenAPI description of the HTTP API, typed from the models it really speaks.

The handlers parse and answer JSON themselves (``POST /v1/events`` reads the body with
orjson, under the 1 MiB and 1,000-event limits, so that one bad event in a batch is named
by its index): FastAPI cannot see those types. :func:`document` completes the generated
description afterwards: the request body of ``POST /v1/events`` (one event or an array)
from :class:`~notifier.core.events.Event`'s JSON Schema, each answer from the models below,
and the errors every operation may give, all in one JSON error shape::

    {"error": "invalid event", "details": [{"path": "user.email", "message": "…"}]}

Generated clients and fuzzers (schemathesis) can then use the API; a test runs
schemathesis against the live app and fails on any answer the description does not allow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from notifier.core.events import Event

__all__ = ["Accepted", "AcceptedBatch", "DeliveryView", "ErrorBody", "Health", "document"]

_REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    """One problem, with the field it is about."""

    #: Where: ``user.email``, ``[3].kind`` (the fourth event of a batch), ``status`` (a query parameter).
    path: str
    message: str
    #: In a batch, the position of the event at fault.
    index: int | None = None


class ErrorBody(BaseModel):
    """Every error the API answers (4xx and 5xx) has this shape."""

    model_config = ConfigDict(extra="allow")  # an error may add context, e.g. who holds a case

    error: str
    details: list[ErrorDetail] | None = None


class PlannedDelivery(BaseModel):
    """A delivery planned when an event was accepted."""

    id: str
    route: str
    channel: str
    status: Literal["pending", "claimed", "sent", "dead", "suppressed"]
    #: How many similar events dedup folded into it so far.
    folded: int | None = None


class Accepted(BaseModel):
    """The answer to one accepted event (``202``: stored with its deliveries)."""

    id: str
    #: An event with this ``id`` (or ``Idempotency-Key``) was already stored: nothing new was planned.
    duplicate: bool
    deliveries: list[PlannedDelivery]
    #: The case the event opened or joined, when cases are enabled.
    case: dict[str, Any] | None = None


class AcceptedBatch(BaseModel):
    """The answer to a batch, one entry per event, in order."""

    events: list[Accepted]


class DeliveryView(BaseModel):
    """One (event, channel) delivery as stored."""

    id: str
    event_id: str
    route: str
    channel: str
    status: Literal["pending", "claimed", "sent", "dead", "suppressed"]
    priority: Literal["low", "normal", "high", "urgent"]
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    ref: str | None
    folded: int
    dedup_key: str | None
    keywords: list[str]
    thread_key: str | None
    progress: dict[str, Any]
    claimed_by: str | None = None
    lease_until: datetime | None = None


class AttemptView(BaseModel):
    """One try of a delivery."""

    number: int
    at: datetime
    outcome: str
    reason: str | None
    duration_ms: float


class DeliveryDetail(DeliveryView):
    """A delivery with every attempt."""

    attempt_history: list[AttemptView]


class DeliveryList(BaseModel):
    """Deliveries, newest first."""

    deliveries: list[DeliveryView]


class EventView(BaseModel):
    """A stored event and its deliveries."""

    #: The event as accepted (ids and times filled in); same fields as the request.
    event: dict[str, Any]
    received_at: datetime
    deliveries: list[DeliveryView]


class Replayed(BaseModel):
    """Deliveries queued again."""

    replayed: list[str]


class Health(BaseModel):
    """Whether delivery moves (``200``) or not (``503``, with ``error`` saying why)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "unhealthy"] | None = None
    error: str | None = None
    #: Deliveries in the store by status.
    deliveries: dict[str, int] | None = None
    worker: dict[str, Any] | None = None
    oldest_due_seconds: float | None = None
    stuck_after_seconds: float | None = None


class CaseList(BaseModel):
    """Cases, most recently active first."""

    model_config = ConfigDict(extra="allow")

    cases: list[dict[str, Any]]


class CaseView(BaseModel):
    """A case with its history and timings."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="the case")


#: What each operation answers when it succeeds, and the errors it documents beyond the
#: ones every operation may give (401, 403, 422, 503).
_OPERATIONS: dict[tuple[str, str], tuple[dict[int, tuple[type[BaseModel] | None, str]], tuple[int, ...]]] = {
    ("post", "/v1/events"): ({202: (None, "Accepted: the events and their deliveries are stored")},
                             (400, 408, 413, 415)),
    ("get", "/v1/events/{event_id}"): ({200: (EventView, "The event and its deliveries")}, (404,)),
    ("get", "/v1/deliveries"): ({200: (DeliveryList, "Deliveries, newest first")}, ()),
    ("get", "/v1/deliveries/{delivery_id}"): ({200: (DeliveryDetail, "The delivery and its attempts")}, (404,)),
    ("post", "/v1/deliveries/{delivery_id}/replay"): ({202: (Replayed, "Queued again")}, (404, 409)),
    ("get", "/healthz"): ({200: (Health, "Delivery moves")}, ()),
    ("get", "/v1/cases"): ({200: (CaseList, "Cases")}, ()),
    ("get", "/v1/cases/{case_id}"): ({200: (CaseView, "The case")}, (404,)),
    ("post", "/v1/cases/{case_id}/{action}"): ({200: (CaseView, "The case after the action")}, (404, 409)),
    ("get", "/v1/tools"): ({200: (None, "The send_support_email tool: both formats, or one with ?format=")}, ()),
    ("get", "/v1/privacy/subjects"): ({200: (None, "Everything stored about the subject")}, (404,)),
    ("delete", "/v1/privacy/subjects"): ({200: (None, "What was erased; the helpdesk tickets to erase there")},
                                         (404,)),
}

_EVERY_OPERATION = (401, 403, 422, 503)

#: The headers ``POST /v1/events`` reads beside its body. Told in words, not as parameters:
#: whether a header is allowed depends on the body (one event, its ``id``), which parameters
#: cannot say, and a client generated from them would send what is refused.
_EVENT_HEADERS = """
Headers read beside the body:

- `Idempotency-Key` (1 to 200 characters, not `.` or `..`): the event's id, as the body's `id` would give it;
  a repeat is not processed again (`"duplicate": true`). One event only: with a batch, or
  with a body `id` that differs, the request is refused (`422`).
- `X-Notifier-Timestamp` and `X-Notifier-Signature`, for a token with `hmac_secret`: Unix
  seconds, within 5 minutes of the server's clock, and `v1=` followed by the hex
  HMAC-SHA256 of `<timestamp>.<raw body>` (several `v1=` values, comma-separated, while a
  secret rotates).
"""

_WHY = {
    400: "Bad request: the body is not JSON",
    401: "Missing or wrong token (Authorization: Bearer …), or a bad body signature",
    403: "The token lacks the scope, or may not act for this site",
    404: "Not found",
    408: "The request (or its body) was not received in time",
    409: "Conflict: not in a state that allows this",
    413: "Too large: the body is over 1 MiB or the batch over 1,000 events",
    415: "Not JSON: a form body, or another media type",
    422: "Invalid: details name each field at fault",
    503: "The database is unavailable (or, for /healthz, delivery does not move): try again later",
}


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _event_schema(components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(Event).json_schema(ref_template=_REF, mode="validation")
    for name, sub in schema.pop("$defs", {}).items():
        if components.get(name, sub) != sub:
            raise RuntimeError(f"two different schemas named {name!r} in the OpenAPI description")
        components[name] = sub
    components["Event"] = schema
    return {"$ref": _REF.format(model="Event")}


def _choices() -> dict[tuple[str, str], tuple[str, ...]]:
    from notifier.core.cases import STATUSES as CASE_STATUSES
    from notifier.store.base import STATUSES
    from notifier.tools_api import FORMATS

    return {("/v1/deliveries", "status"): STATUSES, ("/v1/cases", "status"): CASE_STATUSES,
            ("/v1/tools", "format"): FORMATS}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def document(app: FastAPI, *, max_batch: int) -> None:
    """Make ``app.openapi()`` describe request bodies, answers and errors from the models."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        components: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's shape: ours replaces it
            components.pop(name, None)
        error = _schema_of(ErrorBody, components)
        event = _event_schema(components)
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                answers, errors = _OPERATIONS.get((method, path), ({}, ()))
                responses: dict[str, Any] = {}
                for status, (model, why) in answers.items():
                    responses[str(status)] = {"description": why}
                    if model is not None:
                        responses[str(status)]["content"] = _json(_schema_of(model, components))
                if not answers:  # keep what FastAPI said of a success, without the untyped schema
                    for status, answer in operation.get("responses", {}).items():
                        if status.startswith("2"):
                            responses[status] = answer
                every = (503,) if path == "/healthz" else _EVERY_OPERATION  # no token, no parameter
                for status in sorted({*errors, *every}):
                    responses[str(status)] = {"description": _WHY[status], "content": _json(error)}
                operation["responses"] = responses
        # Query parameters the handlers check against a fixed list (they answer 422 otherwise).
        for (path, name), allowed in _choices().items():
            for parameter in spec["paths"].get(path, {}).get("get", {}).get("parameters", []):
                if parameter["name"] == name:
                    parameter["schema"] = {"type": "string", "enum": list(allowed)}
        post = spec["paths"]["/v1/events"]["post"]
        post["requestBody"] = {"required": True, "description": f"One event, or an array of 1 to {max_batch}.",
                               "content": _json({"oneOf": [event, {"type": "array", "items": event,
                                                                   "minItems": 1, "maxItems": max_batch}]})}
        post["responses"]["202"]["content"] = _json(
            {"oneOf": [_schema_of(Accepted, components), _schema_of(AcceptedBatch, components)]})
        post["description"] = post.get("description", "").rstrip() + "\n" + _EVENT_HEADERS
        if "/v1/tools" in spec["paths"]:
            tools = {"type": "array", "items": {"type": "object"}}
            spec["paths"]["/v1/tools"]["get"]["responses"]["200"]["content"] = _json({"oneOf": [
                {"type": "object", "required": ["openai", "anthropic"],
                 "properties": {"openai": tools, "anthropic": tools, "call": {"type": "object"}}}, tools]})
        if "/metrics" in spec["paths"]:
            spec["paths"]["/metrics"]["get"]["responses"]["200"] = {
                "description": "Prometheus metrics, in the text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}}}
        # The stored event is the accepted one, completed: the request's schema describes it.
        components["EventView"]["properties"]["event"] = event
        # Bearer tokens (auth.tokens, NOTIFIER_API_TOKEN); `{}` too, since an install without
        # any token answers without one. /healthz never needs one.
        spec["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A token from `notifier token new`: scopes events:write, read, admin; "
                           "optionally bound to sites. See docs/operations.md#tokens."}}
        spec["security"] = [{"bearer": []}, {}]
        if "/healthz" in spec["paths"]:
            for operation in spec["paths"]["/healthz"].values():
                operation["security"] = [{}]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
