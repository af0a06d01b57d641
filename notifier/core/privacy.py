"""A channel's view of an event under its data policy (``privacy`` in ``channels.yaml``).

:func:`for_channel` is pure: it returns a copy of the event with what the channel may not
be shown removed and personal data in visitor text replaced by placeholders. The worker
applies it to every delivery and ``notifier explain --render`` to every preview, so what
a channel receives and what an operator previews are the same.

``user.consent`` stays the first gate (channels only read ``consented_user``);
``include`` narrows further, it never widens.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Any

from notifier.core.events import Event
from notifier.core.redact import redact

__all__ = ["anonymise_ip", "for_channel", "with_anonymised_ip"]

#: Tool arguments that fill each shown field (see notifier/core/tool_calls.py): a field
#: left out must not come back through the arguments a webhook forwards.
_TOOL_ARGUMENTS = {"message": ("message",), "page": ("page_url", "page_title"), "user.name": ("name",),
                   "user.email": ("email",), "user.phone": ("phone",), "ip": ("ip",)}


def _redacted(value: Any, kinds: Collection[str], locale: str) -> Any:
    # Tool arguments are any JSON: redact every string in it, keys kept as sent.
    if isinstance(value, str):
        return redact(value, kinds, locale=locale)
    if isinstance(value, list):
        return [_redacted(v, kinds, locale) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, kinds, locale) for k, v in value.items()}
    return value


def for_channel(event: Event, include: Collection[str] | None, redact_kinds: Collection[str],
                locale: str = "fr") -> Event:
    """``event`` as a channel with this policy may see it.

    ``include`` (``None``: everything) names what is shown among ``message``, ``page``,
    ``user.name``, ``user.email``, ``user.phone``, ``transcript`` and ``ip``;
    ``redact_kinds`` the personal data hidden in the message, the transcript and the tool
    arguments, with placeholders in ``locale``.
    """
    if include is None and not redact_kinds:
        return event
    shown = set(include) if include is not None else set(_TOOL_ARGUMENTS) | {"transcript"}
    update: dict[str, Any] = {}
    if "message" not in shown:
        update["message"] = None
    elif event.message and redact_kinds:
        update["message"] = redact(event.message, redact_kinds, locale=locale)
    if "page" not in shown:
        update["page"] = None
    if "transcript" not in shown:
        update["transcript"] = []
    elif redact_kinds:
        update["transcript"] = [t.model_copy(update={"text": redact(t.text, redact_kinds, locale=locale)})
                                for t in event.transcript]
    if event.user is not None:
        hidden = {"name": "user.name", "email": "user.email", "phone": "user.phone", "ip": "ip"}
        gone = {field: None for field, key in hidden.items() if key not in shown}
        if gone:
            update["user"] = event.user.model_copy(update=gone)
    if event.tool is not None:
        dropped = {arg for key, args in _TOOL_ARGUMENTS.items() if key not in shown for arg in args}
        arguments = {k: v for k, v in event.tool.arguments.items() if k not in dropped}
        if redact_kinds:
            arguments = _redacted(arguments, redact_kinds, locale)
        update["tool"] = event.tool.model_copy(update={"arguments": arguments})
    return event.model_copy(update=update)


def anonymise_ip(ip: str) -> str | None:
    """``ip`` truncated to its /24 (IPv4) or /48 (IPv6) network; ``None`` when it is no address.

    >>> anonymise_ip("203.0.113.7"), anonymise_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")
    ('203.0.113.0', '2001:db8:85a3::')
    """
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        # What cannot be truncated is not kept: it might be an address in another spelling.
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def with_anonymised_ip(event: Event) -> Event:
    """``event`` with the user's IP address anonymised (see :func:`anonymise_ip`)."""
    if event.user is None or not event.user.ip:
        return event
    return event.model_copy(update={"user": event.user.model_copy(update={"ip": anonymise_ip(event.user.ip)})})
