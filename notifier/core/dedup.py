"""Deduplication decisions: pure functions, ``now`` passed in.

A route's dedup has a key template and a window. The first event of a key opens a window
and is sent; repeats inside it are suppressed and counted; the first event after the
window is sent again and says how many were folded into the previous one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifier.core.events import Event

__all__ = ["KEY_FIELDS", "DedupDecision", "DedupState", "check_key_template", "decide", "render_key"]

#: The fields a dedup key template may use.
KEY_FIELDS = frozenset(
    {"site", "conversation_id", "kind", "route", "user_email", "priority", "message", "id", "labels"}
)


def check_key_template(template: str) -> None:
    """Raise ``ValueError`` naming the first unknown field of ``template``."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid key template {template!r}: {exc}") from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = field.split(".")[0].split("[")[0]
        if root not in KEY_FIELDS:
            allowed = ", ".join(sorted(KEY_FIELDS))
            raise ValueError(f"unknown field {{{root}}} in key template (allowed: {allowed})")


class _Labels(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render_key(template: str, event: Event, route: str) -> str:
    """The dedup key of ``event`` on ``route``, e.g. ``shop:c42:support_request``."""
    values: dict[str, Any] = {
        "site": event.site,
        "conversation_id": event.conversation_id or "",
        "kind": event.kind.value,
        "route": route,
        "user_email": (event.user.email if event.user and event.user.email else ""),
        "priority": event.effective_priority.value,
        "message": event.message or "",
        "id": event.id or "",
        "labels": _Labels(event.labels),
    }
    return f"{route}|{template.format_map(values)}"


@dataclass(frozen=True)
class DedupState:
    """What the store remembers for one key."""

    window_until: datetime
    suppressed: int
    first_delivery_id: str | None = None


@dataclass(frozen=True)
class DedupDecision:
    """``send`` or not; ``folded`` repeats to announce; the state to store."""

    send: bool
    folded: int
    state: DedupState


def decide(state: DedupState | None, now: datetime, window: timedelta) -> DedupDecision:
    """Decide for one event whose key's stored state is ``state``.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> first = decide(None, t, timedelta(minutes=10))
    >>> first.send, decide(first.state, t + timedelta(minutes=1), timedelta(minutes=10)).send
    (True, False)
    """
    if window <= timedelta(0):
        return DedupDecision(True, 0, DedupState(now, 0))
    if state is not None and now < state.window_until:
        return DedupDecision(False, 0, DedupState(state.window_until, state.suppressed + 1,
                                                  state.first_delivery_id))
    folded = state.suppressed if state is not None else 0
    return DedupDecision(True, folded, DedupState(now + window, 0))
