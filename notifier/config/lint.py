"""Warnings about a configuration that loads but will likely not do what its admin wants.

They do not stop the service; ``notifier check`` prints each at its ``file:line:col``::

    channels.yaml:11:32  defaults.dedup.key: events without a conversation_id from different
    people get the same key "{site}:{conversation_id}:{kind}" and are folded into one notification; …
"""

from __future__ import annotations

from datetime import timedelta

from notifier.config.errors import ConfigIssue
from notifier.config.errors import Path as DataPath
from notifier.config.issues import Positions, issue_at
from notifier.config.models import Config
from notifier.core.dedup import DEFAULT_KEY, PERSON_FIELDS, key_fields

__all__ = ["config_warnings", "dedup_key_warning"]


def dedup_key_warning(template: str) -> str | None:
    """Why ``template`` can fold different people into one notification, or ``None``.

    >>> dedup_key_warning("{site}:{person}:{kind}") is None
    True
    """
    fields = key_fields(template)
    if fields & PERSON_FIELDS:
        return None
    fix = (f'use {{person}} (the conversation, else the user\'s email or phone, else the event), '
           f'e.g. "{DEFAULT_KEY}"')
    if "conversation_id" in fields:
        return (f"events without a conversation_id from different people get the same key {template!r} "
                f"and are folded into one notification; {fix}")
    if "user_email" in fields:
        return (f"people who gave no email get the same key {template!r} and are folded into one "
                f"notification; {fix}")
    return f"the key {template!r} folds the requests of different people into one notification; {fix}"


def config_warnings(config: Config, positions: Positions, file: str) -> list[ConfigIssue]:
    """Every warning about ``config`` (as loaded from ``file``, whose ``positions`` were recorded)."""
    found: dict[DataPath, str] = {}
    defaults = config.defaults.dedup
    # The fallback (and every route that does not set its own key) uses defaults.dedup.
    users_of_defaults = defaults.window > timedelta(0)
    for i, route in enumerate(config.routes):
        own = route.dedup
        window = own.window if own is not None and own.window is not None else defaults.window
        if window <= timedelta(0):
            continue
        if own is not None and own.key is not None:
            message = dedup_key_warning(own.key)
            if message:
                found[("routes", i, "dedup", "key")] = message
        else:
            users_of_defaults = True
    if users_of_defaults:
        message = dedup_key_warning(defaults.key)
        if message:
            found[("defaults", "dedup", "key")] = message
    return [issue_at(file, positions, path, message) for path, message in found.items()]
