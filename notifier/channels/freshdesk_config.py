"""``type: freshdesk`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.freshdesk`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from notifier.config.common import ChannelSettings

__all__ = ["FreshdeskChannel"]


class FreshdeskChannel(ChannelSettings):
    """Freshdesk tickets."""

    type: Literal["freshdesk"]
    domain: str
    api_key: str
    base_url: str | None = None
    tags: list[str] = Field(default_factory=list)
    fallback_email: str | None = Field(
        None, description="Requester of tickets whose user gave no consent (Freshdesk requires one). "
        "Default: defaults.admin_email."
    )
