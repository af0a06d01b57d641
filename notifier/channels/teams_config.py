"""``type: teams`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.teams`)."""

from __future__ import annotations

from typing import Literal

from notifier.config.common import ChannelSettings, WebAddress

__all__ = ["TeamsChannel"]


class TeamsChannel(ChannelSettings):
    """Microsoft Teams through a Workflows (Power Automate) webhook."""

    type: Literal["teams"]
    url: WebAddress
