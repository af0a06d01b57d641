"""``type: freshdesk`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.freshdesk`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from notifier.config.common import ChannelSettings, Filled

__all__ = ["FreshdeskChannel"]


class FreshdeskChannel(ChannelSettings):
    """Freshdesk tickets."""

    type: Literal["freshdesk"]
    domain: Filled
    api_key: Filled
    base_url: str | None = None
    tags: list[str] = Field(default_factory=list)
    webhook_secret: str | None = Field(
        None, description="A secret the Freshdesk automation sends in X-Notifier-Webhook-Secret (or as the "
        "password of its basic authentication) to tell notifier a ticket was resolved "
        "(POST /v1/inbound/freshdesk/<channel>); unset: no inbound webhook.")
    fallback_email: str | None = Field(
        None, description="Requester of tickets whose user gave no consent (Freshdesk requires one). "
        "Default: defaults.admin_email."
    )
