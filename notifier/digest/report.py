"""Rendering a digest for every kind of channel, from the templates in ``templates/digest/``.

One :class:`~notifier.channels.base.Report` carries every form: email text and HTML, Slack
blocks, a Teams Adaptive Card and the statistics as JSON (webhooks). Each channel takes
the form it can show.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from notifier.channels.base import Report
from notifier.channels.limits import shorten
from notifier.config.models import Config, Digest
from notifier.core.digest import DigestStats, Period
from notifier.core.digest_view import digest_view
from notifier.core.privacy_statement import privacy_statement
from notifier.render import Renderer

__all__ = ["SLACK_MAX_BLOCKS", "SLACK_MAX_TEXT", "build_report", "report_key", "slack_limits"]

#: Slack refuses a message with more blocks, or a section with longer text.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000
_SLACK_HEADER_MAX = 150


def _cut(text: str, limit: int) -> str:
    """``text`` (mrkdwn) within ``limit``: its lines that fit whole, then "…".

    Escaped visitor text is up to five times longer than typed ("&" is "&amp;"), so a
    section of excerpts can overflow; a cut inside a line would leave half an entity or
    half a ``<url|label>`` link, which Slack shows as garbage.
    """
    if len(text) <= limit:
        return text
    head = shorten(text, limit - 1, mark="")
    if "\n" in head:
        return head[: head.rindex("\n")] + "\n…"
    # One line longer than the limit: not inside an entity nor a link.
    for start, end in (("&", ";"), ("<", ">")):
        if head.rfind(start) > head.rfind(end):
            head = head[: head.rfind(start)]
    return head + "…"


def slack_limits(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` cut to what Slack accepts (50 blocks, 3000 characters a section)."""
    out = []
    for block in blocks:
        block = dict(block)
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            limit = _SLACK_HEADER_MAX if block.get("type") == "header" else SLACK_MAX_TEXT
            block["text"] = {**text, "text": _cut(text["text"], limit)}
        if block.get("type") == "context":
            block["elements"] = [{**e, "text": _cut(e["text"], SLACK_MAX_TEXT)} if "text" in e else e
                                 for e in block.get("elements", [])]
        out.append(block)
    if len(out) > SLACK_MAX_BLOCKS:
        out = [*out[: SLACK_MAX_BLOCKS - 1], {"type": "context", "elements": [{"type": "mrkdwn", "text": "…"}]}]
    return out


def report_key(digest: Digest, period: Period) -> str:
    """Unique per (digest, period): the idempotency key of the report."""
    return f"digest:{digest.name}:{period.start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def build_report(renderer: Renderer, config: Config, digest: Digest, period: Period,
                 stats: DigestStats) -> Report:
    """Render ``stats`` in the digest's locale and time zone, in every form."""
    locale = digest.locale or config.defaults.locale
    tz = str(digest.timezone or config.defaults.timezone)
    ctx = digest_view(stats, name=digest.name, sections=list(digest.sections), locale=locale, tz=tz,
                      period=period, event_url=config.defaults.event_url,
                      bot_name=config.defaults.bot_name)
    # The data policy in force, stated at the foot of every form of the digest.
    ctx["privacy"] = privacy_statement(config, locale)
    title = renderer.render("digest", "title", locale, "txt", ctx).strip()
    text = renderer.render("digest", "email", locale, "txt", ctx)
    html = renderer.render("digest", "email", locale, "html", ctx)
    blocks = slack_limits(json.loads(renderer.render("digest", "slack", locale, "json", ctx)))
    card = json.loads(renderer.render("digest", "teams", locale, "json", ctx))
    data = {"digest": digest.name, "title": title, "timezone": tz, "locale": locale,
            "sections": list(digest.sections), "empty": stats.empty, **stats.to_json(),
            "privacy": ctx["privacy"]}
    return Report(key=report_key(digest, period), title=title, text=text, html=html,
                  blocks=blocks, card=card, data=data)
