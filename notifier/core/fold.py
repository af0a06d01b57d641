"""How identifiers are compared: the one form every Unicode spelling of a text folds to.

A visitor can type an address in fullwidth letters (``ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ``), with a
ligature (``ﬁona@…``), an ``ß`` where the admin types ``ss``, capitals beyond ASCII
(``ÉLODIE``), or accents as combining marks (NFD) where the admin's keyboard gives them
precomposed (NFC). :func:`fold` maps all of these to one form: Unicode's *compatibility
caseless match* (Unicode 15, D146: ``NFKD(casefold(NFKD(casefold(NFD(x)))))``), composed
again (NFC) so the result stays short. It neither strips accents (``élodie`` is not
``elodie``) nor ignores characters, so two different addresses never fold together.

>>> fold("ｊｅａｎ＠ＥＸＡＭＰＬＥ．ｃｏｍ")
'jean@example.com'
>>> fold("Straße") == fold("STRASSE") == fold("strasse")
True
>>> fold("E\\u0301lodie") == fold("élodie") != fold("elodie")
True

Databases cannot fold that way (SQLite's ``LIKE`` and PostgreSQL's ``ILIKE`` under the C
locale fold ASCII letters only), so a search narrows on plain text first:
:func:`variants_of` gives the characters outside ASCII that can fold into a piece of
ASCII text; a stored text holds the piece as typed (any ASCII case), or one of those
characters. Python then confirms with :func:`fold`. The characters are few for one
address (fullwidth and mathematical forms of its letters, ``ß`` if it has ``ss``…), and
seldom in a chat's text: ordinary accents, ``’``, ``…`` or a no-break space are not among
them unless they can fold into the address.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass

__all__ = ["Variants", "fold", "variants_of"]


def fold(text: str) -> str:
    """``text`` in the form identifiers are compared in (see the module's docstring)."""
    if text.isascii():
        return text.lower()
    once = unicodedata.normalize("NFD", text).casefold()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", once).casefold())


@functools.cache
def _folding_to_ascii() -> dict[str, str]:
    """Each character outside ASCII whose folded form holds some ASCII, with that form.

    About 1,600 characters (fullwidth forms, ligatures, ``ß``, the Kelvin sign, long s,
    mathematical letters, circled and parenthesised letters, superscripts…); built once,
    on the first search, from the running Python's Unicode tables.
    """
    out: dict[str, str] = {}
    for code in range(0x80, sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        # Only a character with a decomposition or a case folding can fold to anything else.
        if not unicodedata.decomposition(char) and char.casefold() == char:
            continue
        folded = fold(char)
        if not any(c.isascii() for c in folded):
            continue
        out[char] = folded
    return out


def _overlaps(folded: str, piece: str) -> bool:
    # Whether ``folded`` can form part of an occurrence of ``piece``: inside it, around it,
    # or across its start or its end.
    if folded in piece or piece in folded:
        return True
    return any(piece.startswith(folded[i:]) or piece.endswith(folded[:i]) for i in range(1, len(folded)))


@dataclass(frozen=True)
class Variants:
    """The characters outside ASCII that can fold into a part of some ASCII pieces, and their
    percent-encoded forms (``%EF%BD%8A``, a fullwidth ``j`` in a page's URL).

    A text whose folded form holds a piece either holds the piece itself (any ASCII case)
    or one of these (:meth:`found_in`; :attr:`pattern` in a database).
    """

    #: The characters.
    chars: frozenset[str]
    #: Their UTF-8 bytes percent-encoded, in upper case: the whole of a character of two
    #: bytes, the first two bytes of a longer one (a few characters more, far fewer forms).
    encoded: tuple[str, ...]

    @functools.cached_property
    def _encoded(self) -> re.Pattern[str]:
        return re.compile("|".join(map(re.escape, self.encoded)), re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds one of the characters, or one percent-encoded."""
        # The text less its ASCII runs: the few characters a chat's text has beyond ASCII.
        if not text.isascii() and not self.chars.isdisjoint(_ASCII_RUNS.sub("", text)):
            return True
        return "%" in text and self._encoded.search(text) is not None

    @functools.cached_property
    def pattern(self) -> str:
        """The characters as a regular expression (one bracket of characters outside ASCII),
        read alike by Python's ``re`` and PostgreSQL's ``~``."""
        ranges: list[list[int]] = []
        for code in sorted(map(ord, self.chars)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]"

    @property
    def encoded_pattern(self) -> str:
        """The percent-encoded forms as a regular expression, to search without regard to case
        (PostgreSQL's ``~*``): ``%`` and hex digits."""
        return "%(" + "|".join(form[1:] for form in self.encoded) + ")"


_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")


@functools.lru_cache(maxsize=64)
def variants_of(*pieces: str) -> Variants:
    """The :class:`Variants` of some pieces of folded ASCII text (lower case).

    >>> v = variants_of("fiona@example.com")
    >>> v.found_in("ﬁona＠example.com"), v.found_in("élodie@exemple.fr, m'aider ?")
    (True, False)
    """
    for piece in pieces:
        if not piece or not piece.isascii():
            raise ValueError(f"not a piece of folded ASCII text: {piece!r}")
    chars = frozenset(c for c, folded in _folding_to_ascii().items()
                      if any(_overlaps(folded, piece) for piece in pieces))
    # Every printable ASCII character has a fullwidth form, so there is always one.
    assert chars, pieces
    encoded = sorted({"".join(f"%{byte:02X}" for byte in c.encode()[:2]) for c in chars})
    return Variants(chars, tuple(encoded))
