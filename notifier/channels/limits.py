"""Cutting text to a service's limit, counted the way the service counts.

Slack counts characters as JavaScript does (UTF-16 code units: an emoji is two), Teams
Workflows count the bytes of the UTF-8 body, email headers count bytes per line. A cut
never splits a user-perceived character (an extended grapheme cluster of UAX #29, see
:func:`notifier.core.text.grapheme_boundary`): not a letter from its accents, a flag from
its second half, a keycap from its frame, a skin tone or a U+200D-joined family from their
emoji, a Korean syllable from its jamo, nor CR from LF. What was cut is said ("…(1,234 more characters)")
so a reader knows to open the event.
"""

from __future__ import annotations

from collections.abc import Callable

from notifier.core.text import grapheme_boundary

__all__ = ["cut_to", "shorten", "truncate", "utf8_size", "utf16_size"]


def utf16_size(text: str) -> int:
    """Length as Slack (JavaScript) counts it: UTF-16 code units."""
    # Counted by the codec in C: a Python step per character made each cut of a long
    # message (a dozen sizes in its binary search) cost a tenth of a second.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf8_size(text: str) -> int:
    """Length in bytes, UTF-8 encoded."""
    return len(text.encode("utf-8"))


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
    end = grapheme_boundary(text, low)
    return text[:end], len(text) - end


def shorten(text: str, limit: int, mark: str = "…") -> str:
    """``text`` in at most ``limit`` characters (code points), ending in ``mark`` when it was
    longer, cut between two graphemes.

        >>> shorten("drapeaux 🇫🇷🇫🇷", 12)
        'drapeaux 🇫🇷…'
    """
    if len(text) <= limit:
        return text
    return text[: grapheme_boundary(text, max(limit - len(mark), 0))] + mark


def truncate(text: object, length: int = 255, killwords: bool = False, end: str = "...",
             leeway: int = 5) -> str:
    """Jinja2's ``truncate`` filter (same arguments and defaults), cutting between graphemes.

    Templates shorten visitor text with it (``message|truncate(90, true, "…", 0)`` in a
    ticket's subject); Jinja2's own cuts between code points.
    """
    value = str(text)
    if len(value) <= length + leeway:
        return value
    head = value[: grapheme_boundary(value, max(length - len(end), 0))]
    if not killwords:
        head = head.rsplit(" ", 1)[0]
    return head + end
