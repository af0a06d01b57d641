"""A fixture event and helpers shared by the channel tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from notifier.channels.base import ChannelContext, Outbound
from notifier.config.models import Defaults
from notifier.core.events import Event, Priority
from notifier.render import Renderer

__all__ = ["EVENT_URL", "context", "event", "outbound"]

EVENT_URL = "https://notifier.example.com/v1/events/{id}"

_EVENT: dict[str, Any] = {
    "id": "evt-0001",
    "kind": "support_request",
    "site": "shop.example.com",
    "conversation_id": "c-42",
    "occurred_at": "2024-05-14T12:03:00Z",
    "message": "Bonjour, ma commande n'est jamais arrivée.\nJe voudrais parler à un humain <vite>.",
    "user": {"name": "Marie Dupont", "email": "marie@example.com", "phone": "+33 6 12 34 56 78",
             "consent": True},
    "page": {"url": "https://shop.example.com/orders/1234", "title": "Mes commandes"},
    "transcript": [
        {"role": "user", "text": "Où est ma commande 1234 ?"},
        {"role": "assistant", "text": "Elle a été expédiée le 10 mai."},
        {"role": "user", "text": "Elle n'est jamais arrivée, je veux un humain."},
    ],
    "locale": "fr",
    "priority": "high",
}


def event(**changes: Any) -> Event:
    """The fixture event, with ``changes`` to its fields (``user=None`` removes the user)."""
    return Event.model_validate({**_EVENT, **changes})


def outbound(ev: Event | None = None, **changes: Any) -> Outbound:
    """A delivery of ``ev`` (the fixture event by default)."""
    ev = ev or event()
    fields: dict[str, Any] = {"delivery_id": "0f3c9a6e2b7d4c1a8e5f9b2d6a4c8e1f", "event": ev,
                              "channel": "test", "route": "human handoff",
                              "priority": ev.priority or Priority.normal}
    return Outbound(**{**fields, **changes})


def context(*, event_url: str | None = EVENT_URL, admin_email: str | None = "admin@example.com",
            locale: str = "fr") -> ChannelContext:
    """A channel context in Europe/Paris, French, with links to events."""
    defaults = Defaults(timezone="Europe/Paris", locale=locale, admin_email=admin_email,
                        event_url=event_url)
    return ChannelContext(defaults=defaults, renderer=Renderer(), event_url=event_url)


#: A short timeout for tests of servers that never answer.
SHORT = timedelta(milliseconds=300)
