"""``type: webhook``: a JSON POST of the event to any URL.

Body: ``{"event": …, "delivery_id": …, "channel": …, "route": …, "routes": […],
"priority": …, "folded": N, "keywords": […], "attempt": N}``; header ``Idempotency-Key``
is the delivery id, so a retry after a lost reply can be recognised by the receiver.

With ``signing_secret: whsec_…`` each request is signed per the Standard Webhooks spec
(https://www.standardwebhooks.com/): ``webhook-id`` (the delivery id, the same on every
retry), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``). A receiver verifies with the same
package::

    from standardwebhooks import Webhook
    payload = Webhook(secret).verify(request_body, request_headers)  # raises if forged or stale

Like every channel, the webhook forwards the user's name, email, phone and IP address only
when they consented (``user.consent``); set ``include_personal_data: true`` on a webhook
whose receiver you control to send them always.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook as Signer

from notifier.channels.base import ChannelContext, Outbound, Report, SendResult
from notifier.channels.http import classify_exception, classify_response, http_client, mask_url, url_secrets
from notifier.channels.webhook_config import WebhookChannel

__all__ = ["Webhook", "create", "preview"]


def payload(channel: str, message: Outbound, ctx: ChannelContext | None = None, *,
            personal_data: bool = False, encoded: bool = False) -> dict[str, Any]:
    """The JSON document posted for ``message``.

    With ``encoded`` its ``event`` may be JSON already encoded (an ``orjson.Fragment``),
    for ``orjson.dumps`` to copy as it is: the send's path, not a preview's.

    The user's details (name, email, phone, IP) are included only with ``user.consent``,
    or when the channel sets ``include_personal_data: true`` (``personal_data``); otherwise
    ``event.user`` holds only ``{"consent": false}``.
    """
    user = message.event.user
    event: dict[str, Any] | orjson.Fragment
    if user is not None and not user.consent and not personal_data:
        event = message.event.to_json()
        event["user"] = {"consent": False}
    elif encoded:
        # The same JSON as ``to_json()`` would give, without the dict in between.
        event = orjson.Fragment(message.event.model_dump_json(exclude_none=True))
    else:
        event = message.event.to_json()
    body: dict[str, Any] = {
        "event": event,
        "delivery_id": message.delivery_id,
        "channel": channel,
        "route": message.route,
        "routes": list(message.routes or (message.route,)),
        "priority": message.priority.value,
        "folded": message.folded,
        "keywords": list(message.keywords),
        "attempt": message.attempt,
    }
    if message.test:
        body["test"] = True
    if ctx is not None and message.event.id and (link := ctx.link(message.event.id)):
        body["link"] = link
    return body


class Webhook:
    """Posts events as JSON."""

    type = "webhook"

    def __init__(self, name: str, config: WebhookChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._signer = Signer(config.signing_secret) if config.signing_secret else None
        self._secrets = [*config.headers.values(), config.signing_secret, *url_secrets(config.url)]
        self._client = http_client(config, headers={"Content-Type": "application/json", **config.headers})

    def signed_headers(self, key: str, content: bytes, now: datetime | None = None) -> dict[str, str]:
        """``Idempotency-Key``, and the Standard Webhooks headers when a secret is set."""
        headers = {"Idempotency-Key": key}
        if self._signer is not None:
            now = now or datetime.now(UTC)
            headers["webhook-id"] = key
            headers["webhook-timestamp"] = str(int(now.timestamp()))
            headers["webhook-signature"] = self._signer.sign(key, now, content.decode())
        return headers

    async def _post(self, body: dict[str, Any], key: str) -> SendResult:
        content = orjson.dumps(body)
        try:
            response = await self._client.post(self.config.url, content=content,
                                               headers=self.signed_headers(key, content))
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        return classify_response(response, secrets=self._secrets)

    async def send(self, message: Outbound) -> SendResult:
        return await self._post(payload(self.name, message, self.ctx, personal_data=self.config.include_personal_data,
                                        encoded=True), message.delivery_id)

    async def send_report(self, report: Report) -> SendResult:
        body = {"report": report.key, "title": report.title, "text": report.text, "data": report.data}
        return await self._post(body, report.key)

    async def aclose(self) -> None:
        await self._client.aclose()


def create(name: str, config: WebhookChannel, ctx: ChannelContext) -> Webhook:
    """The webhook adapter for one configured channel."""
    return Webhook(name, config, ctx)


def preview(channel: Webhook, message: Outbound) -> str:
    """The request the channel would send."""
    body = orjson.dumps(payload(channel.name, message, channel.ctx,
                                personal_data=channel.config.include_personal_data),
                        option=orjson.OPT_INDENT_2).decode()
    signed = ("\nwebhook-id: " + message.delivery_id + "\nwebhook-timestamp: <when sent>"
              "\nwebhook-signature: v1,<HMAC-SHA256 with signing_secret>") if channel.config.signing_secret else ""
    return f"POST {mask_url(channel.config.url)}\nIdempotency-Key: {message.delivery_id}{signed}\n\n{body}"
