"""Channel adapters, one module per type, each with a ``create(name, config, ctx)`` function."""

from __future__ import annotations

import importlib
from typing import Any

from notifier.channels.base import (
    Channel,
    ChannelContext,
    Outbound,
    Report,
    SendResult,
    permanent,
    retryable,
    sent,
)

__all__ = [
    "Channel",
    "ChannelContext",
    "Outbound",
    "Report",
    "SendResult",
    "build_channel",
    "permanent",
    "retryable",
    "sent",
]


def build_channel(name: str, config: Any, ctx: ChannelContext) -> Channel:
    """The adapter for one configured channel (``config.type`` picks the module)."""
    module = importlib.import_module(f"notifier.channels.{config.type}")
    channel: Channel = module.create(name, config, ctx)
    return channel
