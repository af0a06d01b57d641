"""Helpdesks tell notifier a ticket was solved: the case behind the ticket is resolved.

Optional, per channel: a Zendesk or Freshdesk channel with a ``webhook_secret`` accepts
``POST /v1/inbound/zendesk/<channel>`` or ``POST /v1/inbound/freshdesk/<channel>`` with a
small JSON body the helpdesk's trigger (Zendesk) or automation rule (Freshdesk) sends::

    {"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}", "agent": "{{current_user.name}}"}

A solved or closed ticket resolves its case through :func:`notifier.cases.act` (``via``
``zendesk`` or ``freshdesk``, in the agent's name); any other status changes nothing.

How each request proves it comes from the helpdesk, and why a captured one sent again
changes nothing (what was already told is remembered in the store,
:mod:`notifier.store.inbound_seen`, so every API process of ``serve --api-processes``, every
host on one PostgreSQL database, and a restarted process know it):

* Zendesk signs its webhooks (https://developer.zendesk.com/documentation/webhooks/verifying/):
  ``X-Zendesk-Webhook-Signature`` is ``base64(HMAC-SHA256(secret, timestamp + body))`` and
  ``X-Zendesk-Webhook-Signature-Timestamp`` the timestamp ("These signatures will also help
  prevent against replay attacks"). A timestamp more than five minutes from our clock is
  refused; a signed request that changes a case is accepted once, and the same signature
  again, on any process, while its timestamp is still accepted, is a replay: 401.
* Freshdesk's "Trigger webhook" action signs nothing (its webhooks carry no signature,
  https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules),
  but the admin can add headers or basic authentication to it: the secret travels in
  ``X-Notifier-Webhook-Secret`` (or as the basic-auth password), over HTTPS, and is
  compared in constant time. Nothing in a request tells it from the same request sent
  again, so notifier remembers the tickets reported resolved or closed: another such report
  for the ticket changes nothing until a report of another status (the ticket reopened in
  Freshdesk) came in between. A captured "resolved" sent after the case was reopened in
  notifier is ignored; an agent who reopens the ticket and resolves it again is heard, as
  long as the automation rule reports every status change (README, "Helpdesks close cases").
  What this cannot stop: a captured "open" followed by a captured "resolved".

Wrong or missing credentials answer 401 and nothing changes; a channel without a secret
(or unknown) answers 404, as if the path did not exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from notifier.cases import act
from notifier.config.retention import Retention
from notifier.http_guard import read_body
from notifier.store.cases import CaseNotFound
from notifier.store.connector import queries
from notifier.store.inbound_seen import InboundSeenStore

__all__ = ["INBOUND_PATH", "MAX_SKEW", "TicketChange", "helpdesk_router", "zendesk_signature"]

log = structlog.get_logger("notifier.inbound")

#: The inbound paths (they carry their own credential: no API token is asked).
INBOUND_PATH = re.compile(r"^/v1/inbound/(zendesk|freshdesk)/[^/]+$")
#: How far a Zendesk signature's timestamp may be from our clock (seconds).
MAX_SKEW = 300
_MAX_BODY = 64 * 1024
#: Statuses that mean the ticket is done, as the helpdesks' placeholders print them (or numbers,
#: Freshdesk's 4 resolved and 5 closed).
_DONE = {"zendesk": {"solved", "closed"}, "freshdesk": {"resolved", "closed", "4", "5"}}


def _text(value: Any) -> Any:
    return str(value).strip() if isinstance(value, int | float) and not isinstance(value, bool) else value


class TicketChange(BaseModel):
    """What the helpdesk's trigger sends: which ticket, its new status, who changed it."""

    model_config = ConfigDict(extra="ignore")

    ticket_id: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
    status: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=64)]
    agent: Annotated[str | None, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = None


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's signature of a webhook request: ``base64(HMAC-SHA256(secret, timestamp + body))``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _zendesk_time(value: str) -> float | None:
    """Zendesk's timestamps are ISO 8601 (``2021-07-25T10:00:00Z``); seconds are taken too."""
    # ASCII digits only: a header is read as latin-1, and str.isdigit() also takes '²' or '¹',
    # which float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def zendesk_problem(secret: str, headers: Any, body: bytes, now: float) -> str | None:
    """Why a request does not prove it is Zendesk's (``None``: it does)."""
    signature = headers.get("x-zendesk-webhook-signature")
    timestamp = headers.get("x-zendesk-webhook-signature-timestamp")
    if not signature or not timestamp:
        return "missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp"
    at = _zendesk_time(timestamp)
    if at is None or abs(now - at) > MAX_SKEW:
        return "the signature's timestamp is not within five minutes of this server's clock"
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return "the signature does not match"
    expected = base64.b64decode(zendesk_signature(secret, timestamp, body))
    if not hmac.compare_digest(given, expected):
        return "the signature does not match"
    return None


def _zendesk_claim(headers: Any, now: float) -> tuple[str, datetime]:
    """What a checked Zendesk request claims in the store, and until when.

    The signature's bytes, not its spelling: base64 has several spellings of the same bytes
    (the spare bits of the last character are ignored by decoders), and each would otherwise
    pass for a new request. Held twice the accepted skew past the timestamp, so hosts whose
    clocks differ by up to :data:`MAX_SKEW` still find it while they accept the timestamp.
    """
    signature = base64.b64decode(headers["x-zendesk-webhook-signature"])
    at = _zendesk_time(headers["x-zendesk-webhook-signature-timestamp"]) or now
    return f"zendesk:{signature.hex()}", datetime.fromtimestamp(at + 2 * MAX_SKEW, UTC)


def _freshdesk_ticket(channel: str, ticket_id: str) -> str:
    """The key of a Freshdesk ticket reported resolved or closed on ``channel``."""
    return f"freshdesk:{channel}:{ticket_id}"


def freshdesk_problem(secret: str, headers: Any) -> str | None:
    """Why a request does not carry the shared secret (``None``: it does)."""
    given = headers.get("x-notifier-webhook-secret")
    auth = headers.get("authorization", "")
    if given is None and auth.lower().startswith("basic "):
        try:
            given = base64.b64decode(auth[6:], validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, ValueError):
            given = None
    if not given:
        return "missing X-Notifier-Webhook-Secret (or basic authentication)"
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return "wrong webhook secret"
    return None


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _kept(retention: Retention) -> timedelta:
    """How long a Freshdesk ticket reported resolved is remembered: until its case is gone.

    A ticket finds its case through the deliveries sent to it and the case itself; once
    the purge removed either, a report on the ticket is ignored without this memory.
    """
    return max(retention.events, retention.deliveries, retention.cases)


def helpdesk_router(get_service: Any) -> APIRouter:
    """The inbound webhooks, bound to the running service."""
    router = APIRouter()

    @router.post("/v1/inbound/{kind}/{channel}", include_in_schema=False)
    async def inbound(request: Request, kind: str, channel: str) -> Response:
        """A helpdesk says a ticket changed; a solved or closed one resolves its case."""
        service = get_service()
        settings = service.config.channels.get(channel)
        secret = getattr(settings, "webhook_secret", None)
        if settings is None or settings.type != kind or kind not in _DONE or not secret:
            return _json({"error": f"no inbound webhook for {kind} channel {channel!r}"}, 404)
        raw = await read_body(request, _MAX_BODY)
        if raw is None:
            return _json({"error": f"body is larger than {_MAX_BODY} bytes"}, 413)
        clock = time.time()
        problem = (zendesk_problem(secret, request.headers, raw, clock) if kind == "zendesk"
                   else freshdesk_problem(secret, request.headers))
        client = request.client.host if request.client else None
        if problem:
            log.warning("inbound webhook refused", channel=channel, reason=problem, client=client)
            return _json({"error": problem}, 401)
        try:
            change = TicketChange.model_validate_json(raw)
        except ValidationError as exc:
            return _json({"error": "invalid ticket change", "details": [
                {"path": ".".join(str(x) for x in e["loc"]) or "body", "message": e["msg"]}
                for e in exc.errors(include_url=False)]}, 422)
        db = service.store.connector()
        seen = InboundSeenStore(db)
        now = service.clock()
        status = change.status.strip().lower()
        if status not in _DONE[kind]:
            if kind == "freshdesk":  # reopened (or not done yet) in Freshdesk: its next resolution is news
                await seen.forget(_freshdesk_ticket(channel, change.ticket_id))
            return _json({"outcome": "ignored", "reason": f"ticket {change.ticket_id} is {change.status}"})
        row = await db.fetch_one(queries(db.dialect, "inbound")["case_of_ticket"],
                                 {"channel": channel, "ref": change.ticket_id})
        if row is None:  # a ticket notifier did not open: not ours to track
            return _json({"outcome": "ignored", "reason": f"no case has ticket {change.ticket_id} on {channel}"})
        # Claimed before acting, in the database: of two processes given the same request,
        # one acts. Only requests that change a case are remembered (the others change nothing).
        if kind == "zendesk":
            key, until = _zendesk_claim(request.headers, clock)
        else:
            key, until = _freshdesk_ticket(channel, change.ticket_id), now + _kept(service.config.defaults.retention)
        if not await seen.claim(key, until, now):
            if kind == "zendesk":
                problem = "this signed request was already received (a replay)"
                log.warning("inbound webhook refused", channel=channel, reason=problem, client=client)
                return _json({"error": problem}, 401)
            reason = (f"ticket {change.ticket_id} was already reported resolved or closed, and no report since"
                      " says it was reopened (a repeat, or a replay): nothing changes")
            log.warning("inbound webhook ignored", channel=channel, reason=reason, client=client)
            return _json({"outcome": "ignored", "reason": reason})
        via: Literal["zendesk", "freshdesk"] = "zendesk" if kind == "zendesk" else "freshdesk"
        try:
            result = await act(service.store, service.config, row["case_id"], "resolve",
                               by=change.agent or via, via=via, now=now,
                               note=f"{via} ticket {change.ticket_id}: {status}")
        except CaseNotFound:
            return _json({"outcome": "ignored", "reason": "the case no longer exists"})
        except BaseException:
            # Not acted upon: the helpdesk's retry of this request must be heard.
            await asyncio.shield(seen.forget(key))
            raise
        return _json({"outcome": result.outcome, "case": result.case.to_json()})

    return router
