"""``type: webhook``: a JSON POST of the event to any URL.

Body: ``{"event": …, "delivery_id": …, "channel": …, "route": …, "routes": […],
"priority": …, "folded": N, "keywords": […], "attempt": N}``; header ``Idempotency-Key``
is the delivery id, so a retry after a lost reply can be recognised by the receiver.
"""

from __future__ import annotations

from typing import Any

import orjson

from notifier.channels.base import ChannelContext, Outbound, Report, SendResult
from notifier.channels.http import classify_exception, classify_response, http_client
from notifier.config.models import WebhookChannel

__all__ = ["Webhook", "create", "preview"]


def payload(channel: str, message: Outbound, ctx: ChannelContext | None = None) -> dict[str, Any]:
    """The JSON document posted for ``message``."""
    body: dict[str, Any] = {
        "event": message.event.to_json(),
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
    """Posts events as JSON with ``httpx``."""

    type = "webhook"

    def __init__(self, name: str, config: WebhookChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._secrets = [v for v in config.headers.values()]
        self._client = http_client(config, headers={"Content-Type": "application/json", **config.headers})

    async def _post(self, body: dict[str, Any], key: str) -> SendResult:
        try:
            response = await self._client.post(self.config.url, content=orjson.dumps(body),
                                               headers={"Idempotency-Key": key})
        except Exception as exc:
            return classify_exception(exc, secrets=[*self._secrets, self.config.url])
        return classify_response(response, secrets=self._secrets)

    async def send(self, message: Outbound) -> SendResult:
        return await self._post(payload(self.name, message, self.ctx), message.delivery_id)

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
    body = orjson.dumps(payload(channel.name, message, channel.ctx), option=orjson.OPT_INDENT_2).decode()
    return f"POST {channel.config.url}\nIdempotency-Key: {message.delivery_id}\n\n{body}"
