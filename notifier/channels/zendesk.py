"""``type: zendesk``: one Zendesk ticket per delivery (``POST /api/v2/tickets.json``).

Authentication is an API token (``{email}/token:{api_token}``, HTTP basic). Each create
carries ``Idempotency-Key: <delivery id>``: Zendesk answers a repeat with the ticket it
already created, so a retry after a lost reply makes no second ticket. The comment is
private (``public: false``): agents read it, the requester is not emailed.

The requester is the chatbot's user only when they consented to share their details;
otherwise Zendesk makes the API user the requester. Failures keep Zendesk's own words
(``error``, ``description``, ``details``), e.g. "RecordInvalid: Record validation errors
— Requester: Email is not properly formatted".
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from notifier.channels.base import (
    ChannelContext,
    Outbound,
    Report,
    SendResult,
    permanent,
    retryable,
    sent,
)
from notifier.channels.http import classify_exception, classify_response, http_client, json_object, redact
from notifier.channels.inert import header_text
from notifier.config.models import ZendeskChannel
from notifier.core.addresses import checked_email
from notifier.render import view

__all__ = ["Zendesk", "create", "error_text", "preview", "tag"]

_MAX_BODY = 60_000  # Zendesk refuses comments over 64 KB
_WORDS = {"fr": {"refused_requester": "Adresse refusée par Zendesk comme demandeur"},
          "en": {"refused_requester": "Address Zendesk refused as requester"}}


def _requester_refused(response: httpx.Response) -> bool:
    """A 422 ``RecordInvalid`` whose details name the requester (its email)."""
    data = json_object(response) or {}
    details = data.get("details")
    return isinstance(details, dict) and any(k in details for k in ("requester", "email"))


def tag(value: str) -> str:
    """``value`` as a Zendesk tag: lower case, no spaces (``Shop Site`` -> ``shop_site``)."""
    return re.sub(r"[^\w.\-:]+", "_", value.strip().lower()).strip("_")


def error_text(response: httpx.Response) -> str | None:
    """Zendesk's own explanation from an error body, in one line."""
    data = json_object(response)
    if data is None:
        return None
    parts: list[str] = []
    error = data.get("error")
    if isinstance(error, dict):  # some endpoints answer {"error": {"title", "message"}}
        parts += [str(error[k]) for k in ("title", "message") if error.get(k)]
    elif error:
        parts.append(str(error))
    if data.get("description"):
        parts.append(str(data["description"]))
    details = data.get("details")
    if isinstance(details, dict):
        for name, items in details.items():
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, dict):
                    parts.append(str(item.get("description") or f"{name}: {item.get('error')}"))
    return " — ".join(parts) or None


class Zendesk:
    """Creates Zendesk tickets with ``httpx``."""

    type = "zendesk"

    def __init__(self, name: str, config: ZendeskChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        base = config.base_url or f"https://{config.subdomain}.zendesk.com"
        self.url = base.rstrip("/") + "/api/v2/tickets.json"
        login = f"{config.email}/token:{config.api_token}"
        # A server that echoes the Authorization header back must not leak it either.
        self._secrets = [config.api_token, base64.b64encode(login.encode()).decode()]
        self._client = http_client(config, auth=httpx.BasicAuth(f"{config.email}/token", config.api_token))

    def ticket(self, message: Outbound) -> dict[str, Any]:
        """The JSON document posted for ``message``."""
        ev = message.event
        context = view(message, self.ctx.defaults, self.locale, link=self.ctx.link(ev.id or ""))
        render = self.ctx.renderer.render
        subject = " ".join(render("zendesk", "subject", self.locale, "txt", context).split())
        body = render("zendesk", "body", self.locale, "txt", context).strip()
        tags = ["chatbot", ev.kind.value]
        if ev.site:
            tags.append(tag(ev.site))
        tags += [tag(t) for t in self.config.tags]
        if message.test:
            tags.append("notifier_test")
        ticket: dict[str, Any] = {
            "subject": header_text(subject)[:250],
            "comment": {"body": body if len(body) <= _MAX_BODY else body[: _MAX_BODY - 1] + "…",
                        "public": False},
            "priority": message.priority.value,  # Zendesk's names are ours: low/normal/high/urgent
            "tags": list(dict.fromkeys(t for t in tags if t)),
        }
        if ev.id:
            ticket["external_id"] = ev.id
        user = ev.consented_user
        address = checked_email(user.email) if user is not None else None
        if user is not None and address is not None:
            # A visitor's invalid address is never the requester (Zendesk would refuse the
            # ticket with 422): the API user is, and the comment shows the address as text.
            ticket["requester"] = {"name": header_text(user.name or "")[:255] or address, "email": address}
        return {"ticket": ticket}

    async def send(self, message: Outbound) -> SendResult:
        body = self.ticket(message)
        try:
            response = await self._client.post(self.url, json=body,
                                               headers={"Idempotency-Key": message.delivery_id})
            if response.status_code == 422 and "requester" in body["ticket"] and _requester_refused(response):
                # Zendesk refused the visitor's address (a typo it knows better than our check):
                # the ticket still goes in, from the API user, the address kept as text. A new
                # key: this body differs from the first, which Zendesk would refuse under the old one.
                address = body["ticket"].pop("requester")["email"]
                body["ticket"]["comment"]["body"] += f"\n\n{self._words('refused_requester')}: {address}"
                response = await self._client.post(self.url, json=body,
                                                   headers={"Idempotency-Key": f"{message.delivery_id}.1"})
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.is_success:
            try:
                ticket_id = response.json()["ticket"]["id"]
            except (ValueError, KeyError, TypeError):
                return sent(reason="Zendesk created the ticket but did not say its id")
            return sent(str(ticket_id))
        detail = error_text(response)
        if response.status_code == 409:
            # The same Idempotency-Key is still being processed: ask again later.
            return retryable(redact(f"HTTP 409: {detail or 'request in progress'}", self._secrets),
                             label="conflict")
        return classify_response(response, secrets=self._secrets, detail=detail)

    def _words(self, key: str) -> str:
        return _WORDS.get(self.locale, _WORDS["en"])[key]

    async def send_report(self, report: Report) -> SendResult:
        return permanent("helpdesks do not take digests", label="unsupported")

    async def aclose(self) -> None:
        await self._client.aclose()


def create(name: str, config: ZendeskChannel, ctx: ChannelContext) -> Zendesk:
    """The Zendesk adapter for one configured channel."""
    return Zendesk(name, config, ctx)


def preview(channel: Zendesk, message: Outbound) -> str:
    """The request the channel would send."""
    body = json.dumps(channel.ticket(message), indent=2, ensure_ascii=False)
    return f"POST {channel.url}\nIdempotency-Key: {message.delivery_id}\n\n{body}"
