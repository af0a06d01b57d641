"""Keyword matching forgives case, accents and punctuation, but not a different word."""

from __future__ import annotations

import re
import unicodedata

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from notifier.channels.limits import cut_to
from notifier.core.text import find_keywords, fold, grapheme_boundary


@pytest.mark.parametrize(
    "message",
    [
        "Je veux un Remboursement!",
        "REMBOURSEMENT SVP",
        "rembôursement",
        "remboursement.",
        "(remboursement)",
        "« remboursement »",
        "remboursement\navant vendredi",
        # Invisible in the chat box, present in text pasted from a page or a document.
        "rem\u00adbourse\u00adment",
        "rem\u200bboursement",
        "\ufeffremboursement\u2060",
        "rembourse\u200dment",
    ],
)
def test_a_keyword_matches_whatever_the_case_and_accents(message: str) -> None:
    assert find_keywords(message, ["remboursement"]) == ["remboursement"]


@pytest.mark.parametrize("message", ["remboursements", "nonremboursement", "rembourse", "rem boursement", ""])
def test_a_keyword_does_not_match_another_word(message: str) -> None:
    assert find_keywords(message, ["remboursement"]) == []


@pytest.mark.parametrize(
    "message",
    [
        "Je veux parler à un humain",
        "je veux PARLER A UN HUMAIN!!",
        "parler,  à un... humain",
        "parler -- a   un\thumain",
    ],
)
def test_a_phrase_matches_across_punctuation_and_spaces(message: str) -> None:
    assert find_keywords(message, ["parler à un humain"]) == ["parler à un humain"]


def test_a_phrase_needs_its_words_in_order_and_whole() -> None:
    assert find_keywords("un humain, parler à", ["parler à un humain"]) == []
    assert find_keywords("reparler à un humains", ["parler à un humain"]) == []


def test_an_accented_keyword_matches_unaccented_text() -> None:
    assert find_keywords("un eleve absent", ["élève"]) == ["élève"]


def test_found_keywords_keep_the_configured_order() -> None:
    assert find_keywords("avocat, urgent !", ["urgent", "remboursement", "avocat"]) == ["urgent", "avocat"]


def test_fold() -> None:
    assert fold("Élève ÇA Straße") == "eleve ca strasse"


@given(st.text())
def test_fold_strips_every_combining_mark_whatever_the_script(text: str) -> None:
    # The definition: case-folded, compatibility-decomposed, without combining marks nor
    # invisible format characters.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    assert fold(text) == "".join(c for c in decomposed
                                 if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")


def test_every_character_folds_as_the_definition_says() -> None:
    """Each character the Unicode database assigns, alone: the scan that drops marks and
    format characters drops exactly those ``unicodedata`` calls so, in every script."""
    for point in range(0x110000):
        c = chr(point)
        if unicodedata.category(c) in ("Cn", "Cs"):
            continue
        decomposed = unicodedata.normalize("NFKD", c.casefold())
        expected = "".join(x for x in decomposed if not unicodedata.combining(x) and unicodedata.category(x) != "Cf")
        assert fold(c) == expected, hex(point)


@given(st.text(alphabet=["a", "b", "é", "1", "_", " ", "-", "\u00ad", "\u0301"], max_size=30),
       st.sampled_from(["ab", "a b", "b", "é-a", "1"]))
def test_a_keyword_is_found_where_it_stands_as_whole_words(text: str, keyword: str) -> None:
    # The definition: its folded words, separated by spaces or punctuation, with no letter,
    # digit nor underscore right before or after.
    body = r"[\W_]+".join(re.escape(w) for w in re.findall(r"\w+", fold(keyword)))
    expected = re.search(rf"(?<!\w){body}(?!\w)", fold(text)) is not None
    assert find_keywords(text, [keyword]) == ([keyword] if expected else [])


def test_a_keyword_at_the_end_of_the_longest_message_of_expanding_text_is_found() -> None:
    # U+FDFA folds to 18 letters and spaces: 63,990 of them are more than a million letters.
    assert find_keywords("\ufdfa" * 63_990 + " urgent", ["urgent", "avocat"]) == ["urgent"]
    assert find_keywords("\ufdfa" * 63_990 + "urgent", ["urgent"]) == []  # glued to a letter


#: Characters whose grapheme rules differ: flags' halves, marks, joiners, emoji, skin tones,
#: CR/LF, a prepended letter, Korean jamo and syllables, a spacing mark, a Thai vowel.
_GRAPHEME_PARTS = ["\U0001F1EB", "\U0001F1F7", "\u0301", "\u200d", "\U0001F468", "a", "\r", "\n", "\u0600",
                   "\u1100", "\u1161", "\uac00", "\u0903", "\U0001F3FB", "\u0e33"]


@given(st.lists(st.sampled_from(_GRAPHEME_PARTS), max_size=16).map("".join), st.integers(0, 17))
def test_a_cut_falls_where_unicode_puts_the_last_grapheme_boundary(text: str, end: int) -> None:
    # The definition: the start of the first extended grapheme cluster (UAX #29, as the
    # ``regex`` module's \X matches it) that ends after ``end``.
    starts = [m.start() for m in regex.finditer(r"\X", text) if m.end() > end]
    assert grapheme_boundary(text, end) == (starts[0] if starts and end < len(text) else min(end, len(text)))


def test_a_message_of_flags_is_cut_between_two_flags() -> None:
    flags = "\U0001F1EB\U0001F1F7" * 32_000  # as many regional indicators as a message holds
    assert grapheme_boundary(flags, 63_991) == 63_990
    kept, left = cut_to(flags, 3_003)  # Slack counts each indicator as two: 1,501 fit
    assert kept == "\U0001F1EB\U0001F1F7" * 750 and left == 64_000 - 1_500
