"""``action_links:`` in ``channels.yaml``: signed "I'm on it" / "Resolved" links in alerts.

Email alerts and Teams cards carry two links per case when notifier knows where browsers
reach it (``defaults.public_url``) and has a secret to sign them with (``secret`` here, or
the ``NOTIFIER_LINK_SECRET`` environment variable)::

    defaults:
      public_url: https://notifier.example.com
    action_links:
      secret: ${NOTIFIER_LINK_SECRET}     # 32 characters or more, the same for every process
      expires: 7d
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from notifier.config.common import Duration, StrictModel

__all__ = ["MIN_SECRET", "ActionLinks"]

#: A shorter secret could be guessed offline from one link.
MIN_SECRET = 32


class ActionLinks(StrictModel):
    """Signed links that let an agent claim or resolve a case from an email or a Teams card."""

    enabled: bool = Field(True, description="false: alerts carry no action links.")
    secret: str | None = Field(
        None, description="The key links are signed with (HMAC-SHA256), at least 32 characters; "
        "default: the NOTIFIER_LINK_SECRET environment variable. Changing it voids every link sent.")
    expires: Duration = Field(timedelta(days=7), description="How long a link works after the alert was sent.")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if len(value) < MIN_SECRET:
            raise ValueError(f"the secret must have at least {MIN_SECRET} characters "
                             "(e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("expires")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("expires must be longer than 0s")
        return value
