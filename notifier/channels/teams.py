"""``type: teams``: an Adaptive Card posted to a Teams Workflows (Power Automate) webhook.

The body is the envelope the "Post to a channel when a webhook request is received"
flow expects: ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <card>}]}``.
Workflows answer ``202 Accepted``. The webhook URL carries its secret (``sig=``), so it
never appears in a failure reason.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from notifier.channels.base import ChannelContext, Outbound, Report, SendResult
from notifier.channels.http import classify_exception, classify_response, http_client, json_object, url_secrets
from notifier.config.models import TeamsChannel
from notifier.render import view

__all__ = ["Teams", "card", "create", "envelope", "preview"]

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: Teams refuses messages over ~28 KB: long texts are cut well below that.
_MAX_MESSAGE = 8000
_MAX_TURN = 1000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _http_url(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def envelope(content: dict[str, Any]) -> dict[str, Any]:
    """The Workflows message wrapping one Adaptive Card."""
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}]}


def card(message: Outbound, ctx: ChannelContext, locale: str) -> dict[str, Any]:
    """The Adaptive Card for ``message``: title, facts, the message, last turns, a link."""
    v = view(message, ctx.defaults, locale, link=ctx.link(message.event.id or ""))
    labels: dict[str, str] = v["labels"]
    title = f"{v['kind_label']} · {labels.get('priority_word', 'priority')} {v['priority_label']}"
    if v["test"]:
        title = f"[{labels['test']}] {title}"
    facts = []
    if v["site"]:
        facts.append({"title": labels["site"], "value": v["site"]})
    if v["page_url"] or v["page_title"]:
        page = v["page_url"] or ""
        if v["page_title"] and _http_url(page):
            page = f"[{v['page_title']}]({page})"
        facts.append({"title": labels["page"], "value": page or v["page_title"]})
    if v["time"]:
        facts.append({"title": labels["time"], "value": f"{v['time']} ({v['timezone']})"})
    user = v["user"]
    if user is not None and (user.name or user.email):
        facts.append({"title": labels["user"],
                      "value": " ".join(x for x in (user.name, f"<{user.email}>" if user.email else None) if x)})
    if v["keywords"]:
        facts.append({"title": labels["keywords"], "value": ", ".join(v["keywords"])})

    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": True,
         **({"color": "Attention"} if v["urgent"] else {})},
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    body.append({"type": "TextBlock", "text": _cut(v["message"], _MAX_MESSAGE) or labels["no_message"],
                 "wrap": True, "separator": True})
    if v["folded"]:
        body.append({"type": "TextBlock", "text": f"+{v['folded']} {labels['similar']}", "isSubtle": True,
                     "wrap": True})
    if v["transcript"]:
        body.append({"type": "TextBlock", "text": labels["transcript"], "weight": "Bolder", "separator": True})
        for turn in v["transcript"]:
            role = labels.get(f"role_{turn.role}", turn.role)
            body.append({"type": "TextBlock", "text": f"**{role}:** {_cut(turn.text, _MAX_TURN)}", "wrap": True,
                         "isSubtle": turn.role != "user"})
    content: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body,
                               "msteams": {"width": "Full"}}
    url = _http_url(v["link"]) or _http_url(v["page_url"])
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": labels["open"], "url": url}]
    return content


def report_card(report: Report) -> dict[str, Any]:
    """The digest's own card, or one made of its title and text."""
    if report.card:
        return report.card
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
            "body": [{"type": "TextBlock", "text": report.title, "size": "Large", "weight": "Bolder", "wrap": True},
                     {"type": "TextBlock", "text": _cut(report.text, 20000), "wrap": True, "fontType": "Monospace"}]}


def _secrets(url: str) -> list[str]:
    """The URL, its path and each of its query values (``sig`` is the webhook's password)."""
    return url_secrets(url)


class Teams:
    """Posts Adaptive Cards to a Workflows webhook with ``httpx``."""

    type = "teams"

    def __init__(self, name: str, config: TeamsChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        self._secrets = _secrets(config.url)
        self._client = http_client(config)

    def body(self, message: Outbound) -> dict[str, Any]:
        """The JSON document posted for ``message``."""
        return envelope(card(message, self.ctx, self.locale))

    async def _post(self, body: dict[str, Any]) -> SendResult:
        try:
            response = await self._client.post(self.config.url, json=body)
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        return classify_response(response, secrets=self._secrets, detail=_error_text(response))

    async def send(self, message: Outbound) -> SendResult:
        return await self._post(self.body(message))

    async def send_report(self, report: Report) -> SendResult:
        return await self._post(envelope(report_card(report)))

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_text(response: httpx.Response) -> str | None:
    """Power Automate's own error: ``{"error": {"code": …, "message": …}}``."""
    if response.is_success:
        return None
    data = json_object(response)
    error = data.get("error") if data else None
    if isinstance(error, dict):
        return " ".join(str(x) for x in (error.get("code"), error.get("message")) if x) or None
    return None


def create(name: str, config: TeamsChannel, ctx: ChannelContext) -> Teams:
    """The Teams adapter for one configured channel."""
    return Teams(name, config, ctx)


def preview(channel: Teams, message: Outbound) -> str:
    """The card the channel would post (the webhook URL, a secret, is not shown)."""
    return f"POST Teams workflow\n\n{json.dumps(channel.body(message), indent=2, ensure_ascii=False)}"
