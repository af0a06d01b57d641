"""``type: zendesk``: one Zendesk ticket per conversation.

The first request of a conversation creates the ticket (``POST /api/v2/tickets.json``,
``external_id`` = the conversation, ``Idempotency-Key`` = the delivery); follow-ups and
escalations of the same conversation add a private comment to it
(``PUT /api/v2/tickets/{id}.json``): the worker remembers the ticket as the conversation's
thread on this channel.

Authentication is an API token (``{email}/token:{api_token}``, HTTP basic). Zendesk keeps
an idempotency key for about two hours and answers ``400 IdempotentRequestError`` when a
key comes back with a different body: so a retry (after a lost reply, a long backoff or a
replay) first looks the ticket up by ``external_id`` (a consistent list, not the search
index) and its delivery tag, and never opens a second ticket nor dead-letters one that
exists. Comments are private (``public: false``): agents read them, the requester is not
emailed.

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

from notifier.channels.base import (
    ChannelContext,
    Outbound,
    Report,
    SendResult,
    permanent,
    retryable,
    sent,
)
from notifier.channels.case_text import action_text, case_words
from notifier.channels.http import classify_exception, classify_response, http_client, json_object, redact
from notifier.channels.http_client import Response
from notifier.channels.inert import header_text
from notifier.channels.limits import cut_to, shorten, utf8_size
from notifier.channels.zendesk_config import ZendeskChannel
from notifier.core.addresses import checked_email
from notifier.core.events import Event
from notifier.core.follow_up import FollowUp
from notifier.render import view

__all__ = ["Zendesk", "create", "delivery_tag", "error_text", "external_id", "follows_up", "preview", "tag"]

#: Zendesk refuses comments over 64 KB: bytes of UTF-8, with room for the cut note.
_MAX_BODY = 60_000
_WORDS = {"fr": {"refused_requester": "Adresse refusée par Zendesk comme demandeur"},
          "en": {"refused_requester": "Address Zendesk refused as requester"}}


def _requester_refused(response: Response) -> bool:
    """A 422 ``RecordInvalid`` whose details name the requester (its email)."""
    data = json_object(response) or {}
    details = data.get("details")
    return isinstance(details, dict) and any(k in details for k in ("requester", "email"))


def external_id(event: Event) -> str:
    """The ticket's ``external_id``: the conversation (``site:conversation``), else the event."""
    key = f"{event.site}:{event.conversation_id}" if event.conversation_id else (event.id or "")
    return key[:255]


def delivery_tag(delivery_id: str) -> str:
    """The tag that marks the ticket a delivery created (found again after a lost reply)."""
    return f"notifier_d_{delivery_id}".lower()


def _error_code(response: Response) -> str | None:
    error = (json_object(response) or {}).get("error")
    return error if isinstance(error, str) else None


def tag(value: str) -> str:
    """``value`` as a Zendesk tag: lower case, no spaces (``Shop Site`` -> ``shop_site``)."""
    return re.sub(r"[^\w.\-:]+", "_", value.strip().lower()).strip("_")


def error_text(response: Response) -> str | None:
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
    """Creates Zendesk tickets."""

    type = "zendesk"

    def __init__(self, name: str, config: ZendeskChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        base = config.base_url or f"https://{config.subdomain}.zendesk.com"
        self.base = base.rstrip("/")
        self.url = self.base + "/api/v2/tickets.json"
        login = f"{config.email}/token:{config.api_token}"
        # A server that echoes the Authorization header back must not leak it either.
        self._secrets = [config.api_token, base64.b64encode(login.encode()).decode()]
        self._client = http_client(config, auth=(f"{config.email}/token", config.api_token))

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
        tags.append(delivery_tag(message.delivery_id))
        ticket: dict[str, Any] = {
            "subject": shorten(header_text(subject), 250),
            "comment": {"body": self._fit(body, context), "public": False},
            "priority": message.priority.value,  # Zendesk's names are ours: low/normal/high/urgent
            "tags": list(dict.fromkeys(t for t in tags if t)),
        }
        ticket["external_id"] = external_id(ev)
        user = ev.consented_user
        address = checked_email(user.email) if user is not None else None
        if user is not None and address is not None:
            # A visitor's invalid address is never the requester (Zendesk would refuse the
            # ticket with 422): the API user is, and the comment shows the address as text.
            ticket["requester"] = {"name": shorten(header_text(user.name or ""), 255) or address, "email": address}
        return {"ticket": ticket}

    async def send(self, message: Outbound) -> SendResult:
        try:
            if message.thread_ref:
                result = await self._comment(message, message.thread_ref)
                if result is not None:
                    return result
            elif message.attempt > 1 or message.progress.get("lookup"):
                found = await self._existing(message)
                if isinstance(found, SendResult):
                    return found
            body = self.ticket(message)
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
            if response.status_code == 400 and _error_code(response) == "IdempotentRequestError":
                # The key was used with another body (a re-render, a replay): the ticket exists.
                found = await self._existing(message)
                if isinstance(found, SendResult):
                    return found
                return retryable("Zendesk refused a reused Idempotency-Key and no ticket of this conversation "
                                 "was found yet: looking again later", label="conflict", progress={"lookup": True})
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.is_success:
            try:
                ticket_id = str(response.json()["ticket"]["id"])
            except (ValueError, KeyError, TypeError):
                return sent(reason="Zendesk created the ticket but did not say its id")
            return sent(ticket_id, thread_ref=ticket_id)
        detail = error_text(response)
        if response.status_code == 409:
            # The same Idempotency-Key is still being processed: ask again later.
            return retryable(redact(f"HTTP 409: {detail or 'request in progress'}", self._secrets),
                             label="conflict")
        return classify_response(response, secrets=self._secrets, detail=detail)

    def comment(self, message: Outbound) -> dict[str, Any]:
        """The update that adds ``message`` to its conversation's ticket."""
        ticket = self.ticket(message)["ticket"]
        update: dict[str, Any] = {"comment": ticket["comment"], "additional_tags": ticket["tags"]}
        if message.priority.rank >= 2:  # an escalation raises the ticket, a routine follow-up does not lower it
            update["priority"] = ticket["priority"]
        return {"ticket": update}

    async def _comment(self, message: Outbound, ticket_id: str) -> SendResult | None:
        """Add ``message`` to the conversation's ticket; ``None`` when that ticket is gone."""
        url = f"{self.base}/api/v2/tickets/{ticket_id}.json"
        response = await self._client.put(url, json=self.comment(message))
        if response.status_code == 404:
            return None  # deleted since: a new ticket for the conversation
        if response.is_success:
            return sent(ticket_id, thread_ref=ticket_id, reason=f"comment added to ticket {ticket_id}")
        return classify_response(response, secrets=self._secrets, detail=error_text(response))

    async def _existing(self, message: Outbound) -> SendResult | None:
        """The conversation's ticket if one exists (``GET /api/v2/tickets.json?external_id=``):
        *sent* when it carries this delivery (an earlier attempt created it), else this
        delivery added to it as a comment; ``None`` when there is none."""
        response = await self._client.get(self.url, params={"external_id": external_id(message.event)})
        if not response.is_success:
            return classify_response(response, secrets=self._secrets, detail=error_text(response))
        tickets = (json_object(response) or {}).get("tickets") or []
        if not tickets:
            return None
        ticket = min(tickets, key=lambda t: int(t.get("id") or 0))
        ticket_id = str(ticket.get("id"))
        if delivery_tag(message.delivery_id) in (ticket.get("tags") or []):
            return sent(ticket_id, thread_ref=ticket_id, reason="ticket created by an earlier attempt")
        return await self._comment(message, ticket_id)

    @staticmethod
    def _fit(body: str, context: dict[str, Any]) -> str:
        """``body`` within :data:`_MAX_BODY` bytes, saying how much was cut and where to read it all."""
        kept, left = cut_to(body, _MAX_BODY, utf8_size)
        if not left:
            return body
        labels: dict[str, str] = context["labels"]
        note = labels["more_chars"].format(n=f"{left:,}")
        return f"{kept}\n{note}" + (f"\n{labels['read_all']}: {context['link']}" if context.get("link") else "")

    def _words(self, key: str) -> str:
        return _WORDS.get(self.locale, _WORDS["en"])[key]

    def note(self, follow_up: FollowUp) -> str:
        """The internal note telling an action: "Pris en charge par Marie à 14:05 (depuis Slack)"."""
        text = action_text(follow_up.action, follow_up.actor, follow_up.via, follow_up.at, self.locale,
                           self.ctx.defaults.timezone) + "."
        if follow_up.note:
            colon = " :" if self.locale == "fr" else ":"
            text += f"\n{case_words(self.locale).note}{colon} {follow_up.note}"
        return text

    async def follow_up(self, follow_up: FollowUp) -> SendResult:
        """Add the action to the case's ticket as an internal note (``comment.public: false``).

        Exactly once, though a note is a ``PUT`` (which an HTTP client may send again on a
        dropped connection): the note carries its follow-up's tag (``notifier_f_<id>``), the
        ticket is read first (a tag already there: done), and the update is a safe update
        (``safe_update`` + ``updated_stamp``), which Zendesk refuses with ``409`` once the
        ticket changed — the next attempt reads it again. An action that came from Zendesk
        itself (its webhook) is not told back to it.
        """
        if follow_up.via == "zendesk":
            return sent(reason="the action came from Zendesk itself: nothing to add to the ticket")
        ticket_id = next((t.thread_ref or t.ref for t in follow_up.targets if t.thread_ref or t.ref), None)
        if ticket_id is None:
            return permanent("the case's ticket id is unknown (Zendesk did not say it)", label="not_found")
        url = f"{self.base}/api/v2/tickets/{ticket_id}.json"
        tag = f"notifier_f_{follow_up.delivery_id}".lower()
        try:
            shown = await self._client.get(url)
            if shown.status_code == 404:
                return permanent(f"Zendesk ticket {ticket_id} no longer exists", label="not_found")
            if not shown.is_success:
                return classify_response(shown, secrets=self._secrets, detail=error_text(shown))
            ticket = (json_object(shown) or {}).get("ticket") or {}
            if tag in (ticket.get("tags") or []):
                return sent(ticket_id, reason=f"note added to ticket {ticket_id} by an earlier attempt")
            update: dict[str, Any] = {"comment": {"body": self.note(follow_up), "public": False},
                                      "additional_tags": [tag]}
            if ticket.get("updated_at"):
                update.update(safe_update=True, updated_stamp=ticket["updated_at"])
            response = await self._client.put(url, json={"ticket": update})
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.status_code == 409:
            return retryable(f"Zendesk ticket {ticket_id} changed meanwhile (UpdateConflict): reading it again "
                             "on the next attempt", label="conflict")
        if response.is_success:
            return sent(ticket_id, reason=f"internal note added to ticket {ticket_id}")
        return classify_response(response, secrets=self._secrets, detail=error_text(response))

    async def send_report(self, report: Report) -> SendResult:
        return permanent("helpdesks do not take digests", label="unsupported")

    async def aclose(self) -> None:
        await self._client.aclose()


def follows_up(config: ZendeskChannel) -> bool:
    """Zendesk channels always follow up: an internal note on the case's ticket."""
    return True


def create(name: str, config: ZendeskChannel, ctx: ChannelContext) -> Zendesk:
    """The Zendesk adapter for one configured channel."""
    return Zendesk(name, config, ctx)


def preview(channel: Zendesk, message: Outbound) -> str:
    """The request the channel would send."""
    if message.thread_ref:
        body = json.dumps(channel.comment(message), indent=2, ensure_ascii=False)
        return f"PUT {channel.base}/api/v2/tickets/{message.thread_ref}.json\n\n{body}"
    body = json.dumps(channel.ticket(message), indent=2, ensure_ascii=False)
    return f"POST {channel.url}\nIdempotency-Key: {message.delivery_id}\n\n{body}"
