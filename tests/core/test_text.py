"""Keyword matching forgives case, accents and punctuation, but not a different word."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.text import find_keywords, fold


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
