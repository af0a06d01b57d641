"""Text matching that forgives case and accents: ``remboursement`` matches "Remboursement!"."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import regex

__all__ = ["find_keywords", "fold", "grapheme_boundary", "keyword_pattern", "one_line", "without_bidi_controls"]


#: What folding drops: combining marks (a non-zero canonical combining class, as
#: ``unicodedata.combining`` says) and invisible format characters (Cf): a soft hyphen or a
#: zero-width space from text pasted out of a web page or a document ("rem\u00adboursement")
#: must not hide a word. One scan in C: a Python call per character beyond Latin-1 cost a
#: second per message of 64,000 U+FDFA, which NFKD turns into 18 Arabic letters each.
_MARK_OR_FORMAT = regex.compile(r"[\P{ccc=0}\p{Cf}]")


#: The explicit directional formatting characters of Unicode's bidirectional algorithm
#: (UAX #9: embeddings, overrides, isolates and their ends). Each reorders the text after
#: it up to the end of its line: in a visitor's name, U+202E turns the address the
#: template writes after it around, and an agent reads another address than the one it is.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(text: str) -> str:
    """``text`` without explicit directional formatting characters (U+202A–U+202E, U+2066–U+2069).

    Right-to-left letters still show right to left: they need none of these.

        >>> without_bidi_controls("\u202emoc.live@troppus")
        'moc.live@troppus'
    """
    return _BIDI_CONTROLS.sub("", text)


_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u2028\u2029]")


def one_line(text: str) -> str:
    r"""``text`` as one line, read as typed: line breaks, tabs and control characters become
    spaces, runs of spaces one space, and directional overrides are dropped. A visitor's
    name or site shown in a line of ours can then neither start a line of its own (a
    "Priorité :" row, a header) nor turn around what follows it.

        >>> one_line("shop\r\nTotal : 9999")
        'shop Total : 9999'
    """
    return " ".join(_CONTROL.sub(" ", without_bidi_controls(text)).split())


_GRAPHEME = regex.compile(r"\X")


def grapheme_boundary(text: str, end: int) -> int:
    """The last boundary of a user-perceived character (UAX #29 grapheme) of ``text`` at or
    before ``end``: where a cut splits no flag, keycap, emoji sequence, accented letter,
    Korean syllable, nor CR from LF.

        >>> grapheme_boundary("e\u0301e\u0301", 3)
        2
    """
    if end >= len(text):
        return len(text)
    # Only what lies before ``end`` and the character after it decide where the last
    # boundary before ``end`` is. Runs of regional indicators stand in as pairs of a letter
    # and a mark, which join and part from their neighbours as flags do: ``regex`` counts
    # back to the start of the run at each one (32,000 flags took 17 s to cut).
    head = _REGIONAL_RUN.sub(_as_pairs, text[:end + 1])
    for cluster in _GRAPHEME.finditer(head):
        if cluster.end() > end:
            return cluster.start()
    return end


_REGIONAL_RUN = re.compile("[\U0001F1E6-\U0001F1FF]+")


def _as_pairs(run: re.Match[str]) -> str:
    # Two regional indicators make one flag; the next two the next one (UAX #29, GB12-13).
    size = len(run.group())
    return "a\u0301" * (size // 2) + "a" * (size % 2)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its accents and invisible format characters (soft
    hyphens, zero-width spaces and joiners): ``"Élève"`` -> ``"eleve"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return decomposed if decomposed.isascii() else _MARK_OR_FORMAT.sub("", decomposed)


@lru_cache(maxsize=4096)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A whole-word (or whole-phrase) pattern for ``keyword``, on folded text.

    Words of a phrase may be separated by any run of spaces or punctuation.
    """
    words = re.findall(r"\w+", fold(keyword))
    if not words:
        return re.compile(r"(?<!\w)(?!\w)")
    # The first word, then "no letter before it": a literal first lets the engine jump from
    # one occurrence of the word to the next, where a look-behind first was tried at every
    # character (40 ms a keyword on a message that folds to a million letters).
    first = re.escape(words[0])
    rest = "".join(r"[\W_]+" + re.escape(w) for w in words[1:])
    return re.compile(rf"{first}(?<!\w{first}){rest}(?!\w)")


def find_keywords(text: str, keywords: list[str] | tuple[str, ...], *, folded: str | None = None) -> list[str]:
    """The keywords that occur in ``text`` as whole words, in the order given.

    ``folded`` is ``fold(text)`` when the caller has it: routing folds a message once for
    all its routes (a message may be 64,000 characters).
    """
    if folded is None:
        folded = fold(text)
    return [k for k in keywords if keyword_pattern(k).search(folded)]
