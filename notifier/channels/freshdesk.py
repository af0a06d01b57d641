"""``type: freshdesk``: one Freshdesk ticket per conversation (``POST /api/v2/tickets``).

Authentication is the API key as HTTP basic user with password ``X``. Tickets are open
(status 2), from chat (source 7), with priority 1-4 and an HTML description. Follow-ups
and escalations of the same conversation become private notes on its ticket
(``POST /api/v2/tickets/{id}/notes``): the worker remembers the ticket as the
conversation's thread on this channel.

Freshdesk takes no idempotency key, so each ticket carries a tag made of the delivery id
(``notifier-<id>``). Before creating again on a retry, the adapter looks for that tag with
a consistent read — the tickets list filtered by requester and ``updated_since`` — not with
the search API, whose index lags a few minutes behind a creation: a retry after a lost
reply therefore finds the ticket instead of opening a second one.

Freshdesk requires a requester: the user's address when they consented and it is valid,
else the channel's ``fallback_email``, else ``defaults.admin_email``.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from notifier.channels.base import ChannelContext, Outbound, Report, SendResult, permanent, retryable, sent
from notifier.channels.case_text import action_text, case_words
from notifier.channels.freshdesk_config import FreshdeskChannel
from notifier.channels.http import classify_exception, classify_response, http_client, json_object
from notifier.channels.http_client import Response
from notifier.channels.inert import header_text
from notifier.channels.limits import cut_to, shorten, utf8_size
from notifier.core.addresses import checked_email
from notifier.core.events import Priority
from notifier.core.follow_up import FollowUp
from notifier.render import view

__all__ = ["Freshdesk", "create", "delivery_tag", "error_text", "follows_up", "preview"]

PRIORITY = {Priority.low: 1, Priority.normal: 2, Priority.high: 3, Priority.urgent: 4}
STATUS_OPEN = 2
SOURCE_CHAT = 7
#: Freshdesk refuses tags longer than this.
MAX_TAG = 32
#: Freshdesk documents no size for a description or a note; tickets are read in a browser
#: and the API takes JSON bodies, so a long conversation is kept to the 64 KB Zendesk allows
#: for a comment (the same bound for both helpdesks), cut with a note and the event's link.
MAX_DESCRIPTION = 60_000


def delivery_tag(delivery_id: str) -> str:
    """The tag that finds this delivery's ticket again (kept within Freshdesk's tag length)."""
    return f"notifier-{delivery_id}"[:MAX_TAG]


def _email_refused(response: Response) -> bool:
    """A 400 "Validation failed" naming the ``email`` field."""
    errors = (json_object(response) or {}).get("errors") or []
    return any(isinstance(e, dict) and e.get("field") == "email" for e in errors)


def error_text(response: Response) -> str | None:
    """Freshdesk's own explanation: ``description`` and each field's ``message``."""
    data = json_object(response)
    if data is None:
        return None
    parts = [str(data[k]) for k in ("description", "message") if data.get(k)]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            parts.append(f"{error.get('field')}: {error.get('message')}" if error.get("field")
                         else str(error.get("message")))
    return " — ".join(parts) or None


class Freshdesk:
    """Creates Freshdesk tickets."""

    type = "freshdesk"

    def __init__(self, name: str, config: FreshdeskChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        self.base = (config.base_url or f"https://{config.domain}.freshdesk.com").rstrip("/")
        self._secrets = [config.api_key, base64.b64encode(f"{config.api_key}:X".encode()).decode()]
        self._client = http_client(config, auth=(config.api_key, "X"))

    def ticket(self, message: Outbound) -> dict[str, Any] | None:
        """The JSON document posted for ``message``; ``None`` when no requester email is known."""
        ev = message.event
        user = ev.consented_user
        # Only a valid address can be the requester (Freshdesk answers 400 otherwise): an
        # invalid one stays in the description, as text, and the fallback is the requester.
        address = checked_email(user.email) if user else None
        email = address or self.config.fallback_email or self.ctx.defaults.admin_email
        if not email:
            return None
        context = view(message, self.ctx.defaults, self.locale, link=self.ctx.link(ev.id or ""))
        render = self.ctx.renderer.render
        tags = ["chatbot", ev.kind.value, *([ev.site] if ev.site else []), *self.config.tags,
                *(["notifier-test"] if message.test else []), delivery_tag(message.delivery_id)]
        body: dict[str, Any] = {
            "subject": shorten(header_text(render("freshdesk", "subject", self.locale, "txt", context)), 255),
            "description": self._description(context),
            "email": email,
            "priority": PRIORITY[message.priority],
            "status": STATUS_OPEN,
            "source": SOURCE_CHAT,
            "tags": list(dict.fromkeys(t[:MAX_TAG] for t in tags if t)),
        }
        if user is not None and address and user.name:
            body["name"] = shorten(header_text(user.name), 255)
        return body

    async def _existing(self, message: Outbound, requester: str) -> SendResult | None:
        """The ticket an earlier attempt created, if its reply was lost (``None``: create one).

        ``GET /api/v2/tickets?email=…&updated_since=…`` reads the tickets themselves (the
        search index would miss a ticket created a minute ago).
        """
        since = (message.event.occurred_at or datetime.now(UTC)) - timedelta(minutes=5)
        params = {"email": requester, "updated_since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "order_by": "created_at", "order_type": "desc", "per_page": "100"}
        try:
            response = await self._client.get(f"{self.base}/api/v2/tickets", params=params)
        except Exception as exc:
            # Creating blindly could duplicate the ticket: try the whole send again later.
            return classify_exception(exc, secrets=self._secrets)
        if not response.is_success:
            # Unsure whether the ticket exists: wait rather than risk a duplicate.
            result = classify_response(response, secrets=self._secrets, detail=error_text(response))
            return result if result.status == "retry" else retryable(result.reason, label=result.label)
        try:
            tickets = response.json()
        except ValueError:
            return retryable("Freshdesk answered the tickets list with a body that is not JSON", label="server_error")
        tag = delivery_tag(message.delivery_id)
        for ticket in tickets if isinstance(tickets, list) else []:
            if tag in (ticket.get("tags") or []):
                ticket_id = str(ticket.get("id"))
                return sent(ticket_id, thread_ref=ticket_id, reason="ticket created by an earlier attempt")
        return None

    def _description(self, context: dict[str, Any]) -> str:
        """The HTML description (or note) within :data:`MAX_DESCRIPTION` bytes.

        Too long, the visitor's text is cut before rendering, never the HTML after it (a cut
        tag or entity would garble the ticket), with budgets halved until it fits; each cut
        says how much was left out, and the link to the event stays at the end.
        """
        def render(ctx: dict[str, Any]) -> str:
            return self.ctx.renderer.render("freshdesk", "description", self.locale, "html", ctx).strip()

        text = render(context)
        budget = MAX_DESCRIPTION // 4
        while utf8_size(text) > MAX_DESCRIPTION and budget >= 64:
            note: str = context["labels"]["more_chars"]

            def cut(text: str, size: int, note: str = note) -> str:
                kept, left = cut_to(text, size, utf8_size)
                return f"{kept}\n{note.format(n=f'{left:,}')}" if left else text

            turns = context["transcript"]
            text = render({**context, "message": cut(context["message"], budget),
                           "transcript": [t.model_copy(update={"text": cut(t.text, budget // max(len(turns), 1))})
                                          for t in turns]})
            budget //= 2
        return text

    def note(self, message: Outbound) -> dict[str, Any]:
        """The private note that adds ``message`` to its conversation's ticket."""
        ev = message.event
        context = view(message, self.ctx.defaults, self.locale, link=self.ctx.link(ev.id or ""))
        return {"body": self._description(context), "private": True}

    async def _add_note(self, message: Outbound, ticket_id: str) -> SendResult | None:
        """``None`` when the ticket is gone (the conversation gets a new one)."""
        try:
            response = await self._client.post(f"{self.base}/api/v2/tickets/{ticket_id}/notes",
                                                json=self.note(message))
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.status_code == 404:
            return None
        if response.is_success:
            return sent(ticket_id, thread_ref=ticket_id, reason=f"note added to ticket {ticket_id}")
        return classify_response(response, secrets=self._secrets, detail=error_text(response))

    async def send(self, message: Outbound) -> SendResult:
        body = self.ticket(message)
        if body is None:
            return permanent("Freshdesk needs a requester email: the user gave none (or no consent) and "
                             "neither the channel's fallback_email nor defaults.admin_email is set",
                             label="invalid")
        if message.thread_ref:
            noted = await self._add_note(message, message.thread_ref)
            if noted is not None:
                return noted
        if message.attempt > 1:
            # The requester may have been the fallback, if Freshdesk refused the visitor's address.
            fallback = self.config.fallback_email or self.ctx.defaults.admin_email
            for requester in dict.fromkeys([body["email"], fallback]):
                found = await self._existing(message, requester) if requester else None
                if found is not None:
                    return found
        try:
            response = await self._client.post(f"{self.base}/api/v2/tickets", json=body)
            fallback = self.config.fallback_email or self.ctx.defaults.admin_email
            if response.status_code == 400 and _email_refused(response) and fallback and body["email"] != fallback:
                # Freshdesk refused the visitor's address: the ticket goes in from the fallback
                # requester, the address kept as text in the description.
                address = body.pop("email")
                body.pop("name", None)
                body["email"] = fallback
                body["description"] += f"<p>{html.escape(address)} (refused by Freshdesk as requester)</p>"
                response = await self._client.post(f"{self.base}/api/v2/tickets", json=body)
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.is_success:
            try:
                ticket_id = str(response.json()["id"])
                return sent(ticket_id, thread_ref=ticket_id)
            except (ValueError, KeyError, TypeError):
                return sent(reason="Freshdesk created the ticket but did not say its id")
        return classify_response(response, secrets=self._secrets, detail=error_text(response))

    def follow_up_note(self, follow_up: FollowUp) -> dict[str, Any]:
        """The private note telling an action: "Pris en charge par Marie à 14:05 (depuis Slack)"."""
        text = action_text(follow_up.action, follow_up.actor, follow_up.via, follow_up.at, self.locale,
                           self.ctx.defaults.timezone)
        body = f"<p>{html.escape(text)}.</p>"
        if follow_up.note:
            label = case_words(self.locale).note + (" :" if self.locale == "fr" else ":")
            body += f"<p>{html.escape(label)} {html.escape(follow_up.note)}</p>"
        return {"body": body, "private": True}

    async def follow_up(self, follow_up: FollowUp) -> SendResult:
        """Add the action to the case's ticket as a private note (``POST /api/v2/tickets/{id}/notes``).

        Freshdesk takes no idempotency key on notes: a retry after a lost answer may add the
        note twice (at-least-once, like every delivery). An action that came from Freshdesk
        itself (its automation's webhook) is not told back to it.
        """
        if follow_up.via == "freshdesk":
            return sent(reason="the action came from Freshdesk itself: nothing to add to the ticket")
        ticket_id = next((t.thread_ref or t.ref for t in follow_up.targets if t.thread_ref or t.ref), None)
        if ticket_id is None:
            return permanent("the case's ticket id is unknown (Freshdesk did not say it)", label="not_found")
        try:
            response = await self._client.post(f"{self.base}/api/v2/tickets/{ticket_id}/notes",
                                                json=self.follow_up_note(follow_up))
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        if response.status_code == 404:
            return permanent(f"Freshdesk ticket {ticket_id} no longer exists", label="not_found")
        if response.is_success:
            return sent(ticket_id, reason=f"private note added to ticket {ticket_id}")
        return classify_response(response, secrets=self._secrets, detail=error_text(response))

    async def send_report(self, report: Report) -> SendResult:
        return permanent("helpdesks do not take digests", label="unsupported")

    async def aclose(self) -> None:
        await self._client.aclose()


def follows_up(config: FreshdeskChannel) -> bool:
    """Freshdesk channels always follow up: a private note on the case's ticket."""
    return True


def create(name: str, config: FreshdeskChannel, ctx: ChannelContext) -> Freshdesk:
    """The Freshdesk adapter for one configured channel."""
    return Freshdesk(name, config, ctx)


def preview(channel: Freshdesk, message: Outbound) -> str:
    """The request the channel would send."""
    if message.thread_ref:
        note = json.dumps(channel.note(message), indent=2, ensure_ascii=False)
        return f"POST {channel.base}/api/v2/tickets/{message.thread_ref}/notes\n\n{note}"
    body = channel.ticket(message)
    if body is None:
        return "(no ticket: Freshdesk needs a requester email; set fallback_email or defaults.admin_email)"
    return f"POST {channel.base}/api/v2/tickets\n\n{json.dumps(body, indent=2, ensure_ascii=False)}"
