"""``type: apprise`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.apprise`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from notifier.config.common import ChannelSettings, Filled

__all__ = ["AppriseChannel"]


class AppriseChannel(ChannelSettings):
    """Any of Apprise's services, by URL."""

    type: Literal["apprise"]
    urls: list[Filled] = Field(min_length=1)
