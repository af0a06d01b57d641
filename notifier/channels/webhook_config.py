"""``type: webhook`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.webhook`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from notifier.config.common import ChannelSettings, WebAddress

__all__ = ["WebhookChannel"]


class WebhookChannel(ChannelSettings):
    """A JSON POST of the event to any URL."""

    type: Literal["webhook"]
    url: WebAddress
    headers: dict[str, str] = Field(default_factory=dict)
    signing_secret: str | None = Field(
        None, description="whsec_<base64>: sign each request per the Standard Webhooks spec "
        "(webhook-id, webhook-timestamp, webhook-signature headers)."
    )

    @field_validator("signing_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        import base64

        problem = "signing_secret must be whsec_ followed by base64 of 24 to 64 random bytes " \
                  "(`notifier token webhook-secret` makes one)"
        body = value.removeprefix("whsec_")
        if body == value or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", body):
            raise ValueError(problem)
        # Decoded as the standardwebhooks package does: padding added, excess ignored.
        if not 24 <= len(base64.b64decode(body + "==")) <= 64:
            raise ValueError(problem)
        return value

    #: The user's name, email, phone and IP address go out only when they consented, as on
    #: every channel. ``true`` sends them regardless: only for a receiver you control (your
    #: own CRM), where you answer for that data.
    include_personal_data: bool = False
