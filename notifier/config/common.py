"""What every part of ``channels.yaml`` shares: strict models, durations, retry settings.

Kept apart from :mod:`notifier.config.models` so that each channel's settings, which live
beside its adapter (``notifier/channels/<type>_config.py``), can build on them without
importing the whole configuration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from notifier.core.durations import format_duration, parse_duration

__all__ = ["ChannelSettings", "DefaultPrivacy", "Duration", "Filled", "Privacy", "Retry", "RetryOverride",
           "StrictModel", "WebAddress"]

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    # A bare number is seconds, as parse_duration accepts it.
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$"},
                              {"type": "number", "minimum": 0}],
                    "examples": ["30s", "10m", "24h"]}),
]


def _filled(value: str) -> str:
    # `${ZENDESK_TOKEN}` with the variable exported but empty (an unfilled .env, a secret
    # not mounted) loads as "": refused here, at its line, not as a dead letter at night.
    if not value.strip():
        raise ValueError("is empty (a ${VARIABLE} set to nothing?)")
    return value


def _web_address(value: str) -> str:
    _filled(value)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not echoed: such an address often carries its secret (a Teams `sig=`).
        raise ValueError("expected an http:// or https:// address with a host")
    return value


#: A setting that cannot be empty (a token, a key, a subdomain).
Filled = Annotated[str, AfterValidator(_filled)]
#: An http(s) address a channel posts to.
WebAddress = Annotated[str, AfterValidator(_web_address)]


class StrictModel(BaseModel):
    """A model that refuses unknown keys and never changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)



class Retry(StrictModel):
    """How hard to try before a delivery becomes a dead letter."""

    attempts: int = Field(12, ge=1, le=1000)
    backoff: Duration = timedelta(seconds=2)
    max_backoff: Duration = timedelta(minutes=15)
    give_up_after: Duration = timedelta(hours=24)


class RetryOverride(StrictModel):
    """Per-channel override of :class:`Retry`; unset fields come from ``defaults.retry``."""

    attempts: int | None = Field(None, ge=1, le=1000)
    backoff: Duration | None = None
    max_backoff: Duration | None = None
    give_up_after: Duration | None = None

    def over(self, base: Retry) -> Retry:
        # Attributes, not model_dump(): a dump would turn durations back into strings.
        return base.model_copy(update={k: v for k, v in self if v is not None})



#: What a channel may be shown of an event (``privacy.include``).
Shown = Literal["message", "page", "user.name", "user.email", "user.phone", "transcript", "ip"]
#: What :func:`notifier.core.redact.redact` hides in visitor text (``privacy.redact``).
Redacted = Literal["email", "phone", "card", "iban", "ip"]
SHOWN: tuple[Shown, ...] = ("message", "page", "user.name", "user.email", "user.phone", "transcript", "ip")


class Privacy(StrictModel):
    """What a channel is shown of an event. User details still need ``user.consent``.

    ``include`` narrows what is shown (unset: everything); ``redact`` lists the kinds of
    personal data replaced by a placeholder in visitor text (message, transcript, tool
    arguments). On a channel, an unset field comes from ``defaults.privacy``.
    """

    include: list[Shown] | None = Field(None, description="What the channel is shown; unset: everything.")
    redact: list[Redacted] | None = Field(
        None, description="Personal data hidden in visitor text: email, phone, card, iban, ip.")

    def over(self, base: Privacy) -> Privacy:
        """This policy, its unset fields taken from ``base``."""
        return base.model_copy(update={k: v for k, v in self if v is not None})


class DefaultPrivacy(Privacy):
    """``defaults.privacy``: a channel's policy, plus what is done before storage."""

    ip: Literal["keep", "anonymise"] = Field(
        "keep", description="anonymise: store the user's IP truncated to its /24 (IPv4) or /48 (IPv6).")
    audit_salt: str | None = Field(
        None, description="Key of the hashes the erasure audit keeps (a ${SECRET}); unset: made and "
                          "stored in the database on first use.")


class ChannelSettings(StrictModel):
    """What every channel takes: ``retry``, ``concurrency`` (and its bounds, ``rate``),
    ``timeout``, ``locale`` and ``privacy``."""

    retry: RetryOverride | None = None
    concurrency: int = Field(4, ge=1, le=256, description=(
        "Sends in flight at the start; the limit then adapts to the receiver between min_concurrency "
        "and max_concurrency (set both to one value to fix it)."))
    min_concurrency: int | None = Field(None, ge=1, le=256, description=(
        "Fewest sends in flight however the receiver answers; unset: defaults.min_concurrency."))
    max_concurrency: int | None = Field(None, ge=1, le=256, description=(
        "Most sends in flight however fast the receiver answers; unset: defaults.max_concurrency."))
    rate: float | None = Field(None, gt=0, description="At most this many sends per second; unset: no cap.")
    timeout: Duration = timedelta(seconds=10)
    locale: str | None = None
    privacy: Privacy | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ChannelSettings:
        if self.min_concurrency is not None and self.max_concurrency is not None \
                and self.min_concurrency > self.max_concurrency:
            raise ValueError(f"min_concurrency ({self.min_concurrency}) is above "
                             f"max_concurrency ({self.max_concurrency})")
        return self
