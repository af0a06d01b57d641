"""``channels.yaml``: the models, the position-aware loader, its errors and JSON Schema.

>>> from notifier.config import parse_config
>>> config = parse_config("channels: {ops: {type: teams, url: 'https://example.com/hook'}}")
>>> list(config.channels)
['ops']
"""

from __future__ import annotations

from notifier.config.errors import ConfigError, ConfigIssue
from notifier.config.loader import interpolate, load_config, parse_config
from notifier.config.models import Config
from notifier.config.schema import json_schema

__all__ = ["Config", "ConfigError", "ConfigIssue", "interpolate", "json_schema", "load_config", "parse_config"]
