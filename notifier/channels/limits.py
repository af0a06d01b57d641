"""Cutting text to a service's limit, counted the way the service counts.

Slack counts characters as JavaScript does (UTF-16 code units: an emoji is two), Teams
Workflows count the bytes of the UTF-8 body, email headers count bytes per line. A cut
never splits a character, nor a letter from its combining accents, nor an emoji sequence
joined by U+200D; what was cut is said ("…(1,234 more characters)") so a reader knows to
open the event.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

__all__ = ["cut_to", "utf8_size", "utf16_size"]


def utf16_size(text: str) -> int:
    """Length as Slack (JavaScript) counts it: UTF-16 code units."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def utf8_size(text: str) -> int:
    """Length in bytes, UTF-8 encoded."""
    return len(text.encode("utf-8"))


def _joins_previous(char: str) -> bool:
    # Combining marks, variation selectors, emoji modifiers and ZWJ-joined sequences.
    code = ord(char)
    return (unicodedata.combining(char) != 0 or char == "\u200d" or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F
            or unicodedata.category(char) == "Mn")


def cut_to(text: str, limit: int, size: Callable[[str], int] = utf16_size) -> tuple[str, int]:
    """The longest start of ``text`` whose ``size`` is at most ``limit``, and how many
    characters (code points) were left out. ``text`` itself when it fits."""
    if size(text) <= limit:
        return text, 0
    # Binary search on code points, then step back to a grapheme boundary.
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if size(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    end = low
    while end > 0 and end < len(text) and (_joins_previous(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    return text[:end], len(text) - end
