"""Why an event goes where it goes, and what each channel would receive (``notifier explain``).

One engine for the command line (``notifier explain [--render]``) and the console's
route tester: :func:`explain` walks the routes (pure, nothing sent, nothing stored) and
:func:`previews` renders each delivery exactly as its channel would, under the channel's
data policy, without sending it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.config.models import Config
from notifier.core.cases import opens_case
from notifier.core.durations import format_duration
from notifier.core.events import Event
from notifier.core.routing import FALLBACK_ROUTE, Plan, effective_dedup, plan

__all__ = ["Preview", "explain", "previews"]


@dataclass(frozen=True)
class Preview:
    """What one channel would receive: the request as text and, for Slack and Teams, its body."""

    channel: str
    type: str
    text: str
    body: dict[str, Any] | None = None


def explain(config: Config, event: Event, now: datetime) -> tuple[dict[str, Any], Plan]:
    """The routes that match ``event`` and why, and its planned deliveries (JSON-ready), with the plan."""
    from notifier.config.lint import dedup_key_warning

    # Which key template each delivery's dedup key came from, to warn about one that can
    # fold this person together with others.
    templates = {route.name: effective_dedup(route, config).key for route in config.routes}
    templates[FALLBACK_ROUTE] = config.defaults.dedup.key
    routed = plan(config, event, now)
    item: dict[str, Any] = {
        "event": event.id,
        "kind": event.kind.value,
        "routes": [{"route": v.route, "matched": v.matched, "reasons": v.reasons} for v in routed.verdicts],
        "deliveries": [{"route": d.route, "channel": d.channel, "priority": d.priority.value,
                        "dedup_key": d.dedup_key, "dedup_window": format_duration(d.dedup_window),
                        **({"dedup_warning": warning} if d.dedup_key and (
                            warning := dedup_key_warning(templates.get(d.route, ""))) else {})}
                       for d in routed.deliveries],
        "fallback": routed.used_fallback,
    }
    if opens_case(event, routed.keywords):
        from notifier.action_links import links_off_reason

        # Whether the alerts of this case carry "I'm on it" / "Resolved" links, and if not, why.
        off = links_off_reason(config)
        item["action_links"] = "on" if off is None else f"off: {off}"
    return item, routed


async def previews(config: Config, event: Event, routed: Plan) -> list[Preview]:
    """What each planned delivery's channel would send; a rendering problem is shown in its place."""
    from notifier.action_links import links_for
    from notifier.channels import ChannelContext, Outbound, build_channel
    from notifier.core.follow_up import CaseState
    from notifier.core.privacy import for_channel
    from notifier.render import Renderer

    renderer = Renderer(config.templates)
    ctx = ChannelContext(defaults=config.defaults, renderer=renderer, inbox="127.0.0.1:0",
                         event_url=config.defaults.event_url, links=links_for(config))
    # A request shows the links of a new case (signed for the case id "preview").
    case = CaseState(id="preview", status="open") if opens_case(event, routed.keywords) else None
    out = []
    for d in routed.deliveries:
        channel = build_channel(d.channel, config.channels[d.channel], ctx)
        module = importlib.import_module(f"notifier.channels.{channel.type}")
        policy = config.privacy_for(d.channel)
        seen = for_channel(event, policy.include, policy.redact or (), config.locale_for(d.channel))
        message = Outbound(delivery_id="preview", event=seen, channel=d.channel, route=d.route,
                           priority=d.priority, keywords=tuple(routed.keywords),
                           case=case if getattr(channel, "shows_case", False) else None)
        try:
            text = module.preview(channel, message)
            body = channel.body(message) if channel.type in ("slack", "teams") else None  # type: ignore[attr-defined]
            out.append(Preview(d.channel, channel.type, text, body if isinstance(body, dict) else None))
        except Exception as exc:  # show the problem in place of the preview
            out.append(Preview(d.channel, channel.type, f"(cannot render: {type(exc).__name__}: {exc})"))
        finally:
            await channel.aclose()
    return out
