"""``type: slack`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.slack`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from notifier.config.common import ChannelSettings

__all__ = ["SlackChannel"]


class SlackChannel(ChannelSettings):
    """Slack via a bot token (chat.postMessage) or an incoming webhook."""

    type: Literal["slack"]
    token: str | None = None
    channel: str | None = None
    webhook_url: str | None = None
    base_url: str = "https://slack.com/api/"
    rate: float = Field(1.0, gt=0, description="Messages per second per Slack channel.")

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if not self.webhook_url and not (self.token and self.channel):
            raise ValueError("a slack channel needs either token and channel, or webhook_url")
        return self
