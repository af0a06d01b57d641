"""Durations as admins write them in ``channels.yaml``: ``500ms``, ``30s``, ``10m``, ``1h30m``, ``2d``, ``1y``.

A year (``y``) is 365 days: retention periods are written in years.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"1h30m"`` into a :class:`~datetime.timedelta`; a bare number is seconds.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError("expected a duration like 30s, 10m, 24h")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    s = str(text).strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"invalid duration {text!r}: expected a duration like 30s, 10m, 24h, 1h30m")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The shortest readable form: ``timedelta(minutes=90)`` -> ``"1h30m"``."""
    secs = value.total_seconds()
    if secs < 1 and secs > 0:
        return f"{round(secs * 1000)}ms"
    secs_i = round(secs)
    if secs_i == 0:
        return "0s"
    out = []
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs_i >= size:
            out.append(f"{secs_i // size}{unit}")
            secs_i %= size
    return "".join(out)
