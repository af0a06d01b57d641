"""notifier: routes a website chatbot's support events to the people who answer them.

Email first, then Slack, Microsoft Teams, Zendesk, Freshdesk, webhooks and any Apprise
service, per the rules in ``channels.yaml``, with retries, dedup and a daily digest.
"""

from __future__ import annotations

from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.config.models import Config
from notifier.core.events import Event, Kind, Priority

__all__ = ["Config", "ConfigError", "Event", "Kind", "Priority", "__version__", "load_config"]

__version__ = "0.1.0"
