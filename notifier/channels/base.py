"""The channel port: one method, ``send``, that says *sent*, *retry* or *give up*.

Every adapter (email, Slack, Teams, Zendesk, Freshdesk, webhook, Apprise) implements
:class:`Channel`. Errors of the libraries underneath never escape ``send``: they are
translated into a :class:`SendResult` at the boundary, with secrets redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from notifier.core.events import event_link
from notifier.core.outbound import Outbound

if TYPE_CHECKING:
    from notifier.action_links import ActionLinks
    from notifier.config.models import Defaults
    from notifier.core.follow_up import CaseState
    from notifier.render import Renderer

__all__ = ["Channel", "ChannelContext", "Outbound", "Report", "SendResult", "permanent", "retryable", "sent"]


@dataclass(frozen=True)
class Report:
    """A periodic report (the digest), already rendered for every kind of channel.

    Each adapter takes the form it can show: email ``text`` + ``html``, Slack ``blocks``,
    Teams ``card``, webhook ``data``, Apprise ``title`` + ``text``.
    """

    #: Unique per (digest, period): the idempotency key and Message-ID seed.
    key: str
    title: str
    text: str
    html: str | None = None
    blocks: list[dict[str, Any]] | None = None
    card: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send."""

    status: Literal["sent", "retry", "permanent"]
    reason: str = ""
    #: Seconds the remote asked us to wait (``Retry-After``).
    retry_after: float | None = None
    #: What the remote calls the thing created (ticket id, Slack ``ts``, Message-ID).
    ref: str | None = None
    #: A reference to remember as the conversation's thread on this channel.
    thread_ref: str | None = None
    #: State to hand back on the next attempt (see :attr:`Outbound.progress`).
    progress: dict[str, Any] | None = None
    #: A short failure class for metrics (``rate_limited``, ``auth``, ``server_error`` ...).
    label: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "sent"


def sent(ref: str | None = None, *, thread_ref: str | None = None, reason: str = "") -> SendResult:
    """The channel confirmed the message."""
    if ref is None and thread_ref is None and not reason:
        return _SENT  # immutable, so one serves every plain success (most sends of a webhook)
    return SendResult("sent", reason, ref=ref, thread_ref=thread_ref)


_SENT = SendResult("sent")


def retryable(reason: str, *, retry_after: float | None = None, label: str = "",
              progress: dict[str, Any] | None = None) -> SendResult:
    """A failure worth another try later."""
    return SendResult("retry", reason, retry_after=retry_after, label=label, progress=progress)


def permanent(reason: str, *, label: str = "", progress: dict[str, Any] | None = None) -> SendResult:
    """A failure that another try will not fix: the delivery becomes a dead letter."""
    return SendResult("permanent", reason, label=label, progress=progress)


@dataclass
class ChannelContext:
    """What adapters share: the defaults, the renderer, the clock and the capture inbox."""

    defaults: Defaults
    renderer: Renderer
    #: ``host:port`` of the built-in capture inbox, used by email channels without ``smtp``.
    inbox: str | None = None
    #: Link to an event for agents, with ``{id}`` (from ``defaults.event_url``).
    event_url: str | None = None
    #: Signed claim/resolve links (``None``: alerts carry none, see :mod:`notifier.action_links`).
    links: ActionLinks | None = None
    #: The service's clock: when a link is made, so when it expires.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def link(self, event_id: str) -> str | None:
        return event_link(self.event_url, event_id)

    def case_links(self, case: CaseState | None, via: str) -> dict[str, str]:
        """The action links that fit ``case`` now: both while nobody has it, "Resolved" once claimed.

        ``via`` is the channel type the links travel in (recorded with the action). The links
        name the round the message was made for (``case.round``): once the case is reopened past it
        they no longer act (a new alert brings new ones).
        """
        if self.links is None or case is None:
            return {}
        actions = {"open": ("claim", "resolve"), "reopened": ("claim", "resolve"),
                   "claimed": ("resolve",)}.get(case.status, ())
        now = self.clock()
        return {a: self.links.url(case.id, a, now, via=via, case_round=case.round)  # type: ignore[arg-type]
                for a in actions}


class Channel(Protocol):
    """One configured destination."""

    name: str
    type: str

    async def send(self, message: Outbound) -> SendResult:
        """Deliver ``message``; never raises for delivery problems."""
        ...

    async def send_report(self, report: Report) -> SendResult:
        """Deliver a digest; channels that cannot show one return a permanent failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

