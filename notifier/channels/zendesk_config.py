"""``type: zendesk`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.zendesk`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from notifier.config.common import ChannelSettings, Filled

__all__ = ["ZendeskChannel"]


class ZendeskChannel(ChannelSettings):
    """Zendesk tickets."""

    type: Literal["zendesk"]
    subdomain: Filled
    email: Filled
    api_token: Filled
    base_url: str | None = None
    tags: list[str] = Field(default_factory=list)
    webhook_secret: str | None = Field(
        None, description="The signing secret of a Zendesk webhook that tells notifier a ticket was solved "
        "(POST /v1/inbound/zendesk/<channel>); unset: no inbound webhook.")
