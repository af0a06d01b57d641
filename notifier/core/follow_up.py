"""What a channel is told when someone acts on a case it announced: plain data, no I/O.

A :class:`FollowUp` names the action (who claimed, resolved or reopened, when, from
where), the case as it stands when the follow-up is sent, and the messages this channel
posted for the case (:class:`Target`), each with the :class:`~notifier.core.outbound.Outbound`
it was built from, so an adapter can render the same message again with its new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.core.cases import Action, CaseStatus
from notifier.core.outbound import Outbound

__all__ = ["CaseState", "FollowUp", "Target"]


@dataclass(frozen=True)
class CaseState:
    """A case as a channel shows it: its status and who holds or closed it."""

    id: str
    status: CaseStatus
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None
    #: The round the message shows (1, then one more each time the case is reopened): the one its
    #: request or action came in, which its action links and buttons name, so an alert sent late,
    #: after the case was reopened, does not act on a round its reader never saw.
    round: int | None = None

    @property
    def holder(self) -> str | None:
        """Who answers for the case now (the resolver once resolved)."""
        return self.resolved_by if self.status == "resolved" else self.claimed_by if self.status == "claimed" else None


@dataclass(frozen=True)
class Target:
    """One message a channel posted for the case: what it was built from and what the channel called it."""

    delivery_id: str
    message: Outbound
    #: What the channel called the message (a Slack ``ts``, an email ``Message-ID``, a ticket id).
    ref: str | None
    #: The conversation's thread on this channel (the first message's ref), if any.
    thread_ref: str | None


@dataclass(frozen=True)
class FollowUp:
    """An action on a case, for one channel that announced it."""

    #: This follow-up's own delivery (an idempotency key for channels that take one).
    delivery_id: str
    channel: str
    case: CaseState
    action: Action
    actor: str
    #: Where the action came from: ``slack``, ``api``, ``cli``, ``email``…
    via: str
    at: datetime
    note: str | None
    #: The channel's messages for the case, oldest first (sent ones only).
    targets: tuple[Target, ...]
    #: The locale of the case (the request's), else ``None`` (the channel's own applies).
    locale: str | None = None
    attempt: int = 1
    #: What an earlier attempt left (see :attr:`Outbound.progress`).
    progress: dict[str, Any] = field(default_factory=dict)
