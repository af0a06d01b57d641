"""What the worker hands a channel: one event for one delivery.

Kept in the core (it is plain data about an event) so that rendering, which turns it into
text, and the channels, which send that text, both depend on it without depending on
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from notifier.core.events import Event, Priority

if TYPE_CHECKING:
    from notifier.core.follow_up import CaseState

__all__ = ["Outbound"]


@dataclass(frozen=True)
class Outbound:
    """What the worker hands a channel: one event for one delivery."""

    delivery_id: str
    event: Event
    channel: str
    route: str
    priority: Priority
    attempt: int = 1
    #: How many similar events were folded into this one by dedup ("+3 similar").
    folded: int = 0
    #: Keywords that made a route match, if any.
    keywords: tuple[str, ...] = ()
    #: The reference of the first message of this conversation on this channel
    #: (a Slack ``ts``, an email ``Message-ID``), to thread follow-ups under it.
    thread_ref: str | None = None
    #: What an earlier attempt of this delivery left (e.g. recipients that already accepted).
    progress: dict[str, Any] = field(default_factory=dict)
    #: A clearly marked test message (``notifier test CHANNEL``).
    test: bool = False
    #: Every route that sent the event to this channel.
    routes: tuple[str, ...] = ()
    #: The case the event belongs to, as it stands when sent (for channels that show it:
    #: see :mod:`notifier.follow_ups`); ``None`` for other channels and events without a case.
    case: CaseState | None = None
