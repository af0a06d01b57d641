"""``channels.yaml`` as pydantic models.

Every model forbids unknown keys, so a misspelt option is an error with its line rather
than a silently ignored setting. Cross-references (a route naming an unknown channel) are
checked in :meth:`Config._check_references` so that all problems are reported together.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from notifier.channels.apprise_config import AppriseChannel
from notifier.channels.email_config import EmailChannel
from notifier.channels.freshdesk_config import FreshdeskChannel
from notifier.channels.slack_config import SlackChannel
from notifier.channels.teams_config import TeamsChannel
from notifier.channels.webhook_config import WebhookChannel
from notifier.channels.zendesk_config import ZendeskChannel
from notifier.config.auth import AuthConfig
from notifier.config.cases import Acknowledge, Clock, EscalationStep
from notifier.config.common import DefaultPrivacy, Duration, Privacy, Retry
from notifier.config.common import StrictModel as _Model
from notifier.config.cors import CorsConfig
from notifier.config.links import ActionLinks
from notifier.config.retention import Retention
from notifier.core.concurrency import DEFAULT_MAX, DEFAULT_MIN, Bounds
from notifier.core.dedup import DEFAULT_KEY
from notifier.core.events import Kind, Priority

__all__ = [
    "AppriseChannel",
    "BusinessHours",
    "ChannelConfig",
    "Config",
    "Dedup",
    "Defaults",
    "Digest",
    "Duration",
    "EmailChannel",
    "FreshdeskChannel",
    "Match",
    "Retry",
    "Route",
    "SlackChannel",
    "TeamsChannel",
    "WebhookChannel",
    "ZendeskChannel",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Dedup(_Model):
    """Inside ``window`` a second event with the same rendered ``key`` is not sent again.

    The default key folds repeats of one person (``{person}``: the conversation, else the
    user's email or phone, else the event id) on one site and kind, never two people.
    """

    window: Duration = timedelta(minutes=10)
    key: str = Field(
        DEFAULT_KEY,
        description="Template of fields: {site} {person} {conversation_id} {kind} {route} {user_email} "
        "{priority} {message} {id} {labels[name]}. Keep {person} (or {id}) so that different people "
        "are never folded together.",
    )

    @field_validator("key")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        from notifier.core.dedup import check_key_template

        check_key_template(value)
        return value


class DedupOverride(_Model):
    """A route's dedup; unset fields come from ``defaults.dedup``. ``window: 0s`` turns it off."""

    window: Duration | None = None
    key: str | None = None

    @field_validator("key")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        from notifier.core.dedup import check_key_template

        if value is not None:
            check_key_template(value)
        return value

    def over(self, base: Dedup) -> Dedup:
        # Attributes, not model_dump(): a dump would turn durations back into strings.
        return base.model_copy(update={k: v for k, v in self if v is not None})


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class BusinessHours(_Model):
    """When the support team works, in ``defaults.timezone``."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: str = "09:00-18:00"

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        m = _HOURS.match(value.strip())
        if not m:
            raise ValueError(f"invalid hours {value!r}: expected HH:MM-HH:MM, e.g. 09:00-18:00")
        return value.strip()

    @property
    def span(self) -> tuple[time, time]:
        start, end = self.hours.split("-")
        h1, m1 = (int(x) for x in start.split(":"))
        h2, m2 = (int(x) for x in end.split(":"))
        return time(h1, m1), (time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2))


def _zone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a time zone name such as Europe/Paris, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
    return value


TimeZone = Annotated[str, BeforeValidator(_zone)]


class Defaults(_Model):
    """Settings every channel, route and digest inherits."""

    timezone: TimeZone = "UTC"
    locale: str = "fr"
    admin_email: str | None = None
    bot_name: str = "AAIA"
    history_hint: str | None = Field(
        None, description="Where agents find the full conversation history (shown in emails)."
    )
    event_url: str | None = Field(
        None, description="Link to an event, e.g. https://notifier.example.com/v1/events/{id}."
    )
    public_url: str | None = Field(
        None, description="Where people's browsers reach this notifier, e.g. https://notifier.example.com "
        "(the base of action links; default: taken from event_url when it ends in /v1/events/{id})."
    )
    retry: Retry = Field(default_factory=Retry)
    dedup: Dedup = Field(default_factory=Dedup)
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    response_target: Duration | None = Field(
        None, description="How soon a case should get an answer (e.g. 2h), counted in response_clock.")
    response_clock: Clock = Field(
        "business_hours", description="Count the response target in business hours or wall-clock time.")
    acknowledge: Acknowledge | None = Field(
        None, description="Email the user that their request was received (with consent and a valid address).")
    privacy: DefaultPrivacy = Field(default_factory=DefaultPrivacy,
                             description="What channels are shown of an event and what is redacted in it.")
    retention: Retention = Field(default_factory=Retention,
                                 description="How long events, deliveries and cases are kept (purged daily).")
    min_concurrency: int = Field(DEFAULT_MIN, ge=1, le=256,
                                 description="Fewest sends in flight per channel, however the receiver answers.")
    max_concurrency: int = Field(DEFAULT_MAX, ge=1, le=256,
                                 description="Most sends in flight per channel, however fast the receiver answers.")

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"invalid public_url {value!r}: write the address browsers open, "
                             "e.g. https://notifier.example.com (no query, no fragment)")
        return value.rstrip("/")

    @property
    def base_url(self) -> str | None:
        """Where browsers reach notifier: ``public_url``, else ``event_url`` without ``/v1/events/{id}``."""
        if self.public_url:
            return self.public_url
        suffix = "/v1/events/{id}"
        if self.event_url and self.event_url.endswith(suffix) and self.event_url.startswith(("http://", "https://")):
            return self.event_url[: -len(suffix)].rstrip("/") or None
        return None


ChannelConfig = Annotated[
    EmailChannel
    | SlackChannel
    | TeamsChannel
    | ZendeskChannel
    | FreshdeskChannel
    | WebhookChannel
    | AppriseChannel,
    Field(discriminator="type"),
]

CHANNEL_TYPES = ("email", "slack", "teams", "zendesk", "freshdesk", "webhook", "apprise")

# --------------------------------------------------------------------------- channels
# Each channel's settings live beside its adapter (notifier/channels/<type>_config.py).

# --------------------------------------------------------------------------- routes


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _one_or_many(item: dict[str, Any]) -> WithJsonSchema:
    # Editors must accept ``site: shop.example.com`` as well as a list, like the model does.
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item}]})


class Match(_Model):
    """What an event must look like for a route to take it. All given conditions must hold."""

    kinds: list[Kind] | None = None
    site: Annotated[list[str], BeforeValidator(_as_list), _one_or_many({"type": "string"})] | None = None
    keywords: list[str] | None = None
    regex: str | None = None
    role: Literal["user", "assistant"] | None = None
    priority: Annotated[
        list[Priority], BeforeValidator(_as_list), _one_or_many({"enum": [p.value for p in Priority]})
    ] | None = None
    labels: dict[str, str] | None = None
    when: Literal["business_hours", "after_hours"] | None = None

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not k.strip() for k in value):
            raise ValueError("a keyword cannot be empty")
        return value


class Route(_Model):
    """Where matching events go."""

    name: str
    match: Match = Field(default_factory=Match)
    to: list[str] = Field(min_length=1)
    priority: Priority | None = None
    dedup: DedupOverride | None = None
    stop: bool = False
    response_target: Duration | None = Field(
        None, description="How soon cases opened by this route should get an answer; default: defaults.")
    escalate: list[EscalationStep] = Field(
        default_factory=list, description="Who is told, and after how long, while nobody claims the case.")
    acknowledge: Acknowledge | None = Field(
        None, description="Email the user that their request was received; default: defaults.acknowledge.")


# --------------------------------------------------------------------------- digests

Section = Literal["totals", "top_questions", "support_requests", "peak_hours", "delivery_health",
                  "response_times", "satisfaction"]
SECTIONS: tuple[Section, ...] = ("totals", "top_questions", "support_requests", "peak_hours", "delivery_health",
                                 "response_times", "satisfaction")


class Digest(_Model):
    """A periodic report of the chatbot's activity."""

    name: str
    schedule: str = "0 8 * * *"
    to: list[str] = Field(min_length=1)
    sections: list[Section] = Field(default_factory=lambda: list(SECTIONS))
    locale: str | None = None
    timezone: TimeZone | None = None
    site: str | None = None
    top_n: int = Field(10, ge=1, le=100)
    skip_empty: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron schedule {value!r}: expected e.g. '0 8 * * *'")
        return value


# --------------------------------------------------------------------------- the file


class Config(_Model):
    """The whole ``channels.yaml``."""

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    templates: Path | None = Field(None, description="A directory whose files override the built-in templates.")
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    fallback: list[str] | None = Field(
        None, description="Where support/contact requests that no route took go. Default: every email channel."
    )
    digests: list[Digest] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=AuthConfig, description="API tokens, their scopes and sites.")
    cors: CorsConfig = Field(default_factory=CorsConfig,
                             description="Web pages allowed to post events from the browser.")
    action_links: ActionLinks = Field(default_factory=ActionLinks,
                                      description="Signed claim/resolve links in email alerts and Teams cards.")

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        from notifier.config.errors import ReferenceProblems, reference_problems

        problems = reference_problems({
            "channels": self.channels,
            "routes": [{"name": r.name, "to": r.to, "escalate": [{"to": s.to} for s in r.escalate],
                        "acknowledge": {"via": r.acknowledge.via} if r.acknowledge else None}
                       for r in self.routes],
            "defaults": {"acknowledge": {"via": self.defaults.acknowledge.via}} if self.defaults.acknowledge else {},
            "fallback": self.fallback,
            "digests": [{"name": d.name, "to": d.to} for d in self.digests],
        })
        if problems:
            raise ReferenceProblems(problems)
        return self

    @model_validator(mode="after")
    def _hours_to_count(self) -> Config:
        # A target or an escalation counted in business hours needs at least one open day,
        # or it would never come due: refused here rather than failing every request.
        if self.defaults.business_hours.days:
            return self
        if self.defaults.response_clock == "business_hours" and (
                self.defaults.response_target or any(r.response_target for r in self.routes)):
            raise ValueError("business_hours has no open day, but response targets are counted in it "
                             "(add days, or set defaults.response_clock: wall)")
        if any(step.clock == "business_hours" for r in self.routes for step in r.escalate):
            raise ValueError("business_hours has no open day, but an escalation counts it (clock: business_hours)")
        return self

    @property
    def fallback_channels(self) -> list[str]:
        """The fallback, or every email channel when none is set."""
        if self.fallback is not None:
            return list(self.fallback)
        return [name for name, ch in self.channels.items() if ch.type == "email"]

    def privacy_for(self, channel: str) -> Privacy:
        """The data policy of ``channel``: its ``privacy`` over ``defaults.privacy``."""
        ch = self.channels.get(channel)
        if ch is not None and ch.privacy is not None:
            return ch.privacy.over(self.defaults.privacy)
        return self.defaults.privacy

    def locale_for(self, channel: str) -> str:
        """The language ``channel`` speaks: its ``locale``, else ``defaults.locale``."""
        ch = self.channels.get(channel)
        return (ch.locale if ch is not None else None) or self.defaults.locale

    def concurrency_for(self, channel: str) -> Bounds:
        """Where ``channel``'s in-flight limit starts, its range and its rate cap.

        The channel's ``min_concurrency``/``max_concurrency`` over the defaults'; ``concurrency``
        (where the limit starts) is kept inside them.
        """
        ch = self.channels.get(channel)
        if ch is None:
            return Bounds(start=1, minimum=1, maximum=1)
        high = ch.max_concurrency or self.defaults.max_concurrency
        low = min(ch.min_concurrency or self.defaults.min_concurrency, high)
        return Bounds(start=min(max(ch.concurrency, low), high), minimum=low, maximum=high, rate=ch.rate)

    def retry_for(self, channel: str) -> Retry:
        """The retry policy of ``channel``: its override over ``defaults.retry``."""
        ch = self.channels.get(channel)
        if ch is not None and ch.retry is not None:
            return ch.retry.over(self.defaults.retry)
        return self.defaults.retry
