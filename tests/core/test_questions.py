"""Similar questions count once: the digest's "most common questions" section."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from notifier.core.questions import QUESTION_TEXT, group_questions, question_key, question_text, similar_keys

FIXTURE = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "questions.yaml").read_text("utf-8"))
GROUPS: dict[str, list[str]] = FIXTURE["groups"]


def _group_of_each_question() -> dict[str, str]:
    """Count the fixture's questions the way the digest does and name each one's group."""
    counted = Counter(question_key(q) for qs in GROUPS.values() for q in qs)
    examples = {question_key(q): q for qs in GROUPS.values() for q in reversed(qs)}
    groups = group_questions((k, n, examples[k]) for k, n in counted.items())
    leader = {k: g.key for g in groups for k in g.keys}
    return {q: leader[question_key(q)] for qs in GROUPS.values() for q in qs}


def test_fixture_is_large_and_bilingual() -> None:
    questions = [q for qs in GROUPS.values() for q in qs]
    assert len(questions) >= 200
    assert any("commande" in q for q in questions) and any("order" in q for q in questions)


def test_grouping_reproduces_the_expected_groups() -> None:
    found = _group_of_each_question()
    for name, questions in GROUPS.items():
        leaders = {found[q] for q in questions}
        assert len(leaders) == 1, f"{name} was split: {[(q, found[q]) for q in questions]}"
    leaders_by_group = {name: found[qs[0]] for name, qs in GROUPS.items()}
    merged = Counter(leaders_by_group.values())
    wrongly_merged = [n for n, lead in leaders_by_group.items() if merged[lead] > 1]
    assert not wrongly_merged, f"different questions counted as one: {wrongly_merged}"


def test_group_counts_and_example_as_most_people_wrote_it() -> None:
    rows = [("order where", 7, "Where is my order?"), ("oder where", 1, "where is my oder"),
            ("order ordre", 1, "order ordre"), ("hour opening", 3, "Opening hours?")]
    groups = group_questions(rows)
    assert [(g.example, g.count) for g in groups] == [
        ("Where is my order?", 8), ("Opening hours?", 3), ("order ordre", 1)]


@pytest.mark.parametrize(("a", "b"), [
    ("Où est ma commande ?", "ou est ma commande"),
    ("WHERE IS MY ORDER", "where is my order?"),
    ("my order, where is it", "Where is my order"),
    ("I haven't received my order", "I have not received my order"),
    ("I can't log in", "i cannot log in"),
    ("J’ai oublié mon mot de passe", "j'ai oublie mon mot de passe !"),
    ("Quels sont vos horaires ?", "quel est votre horaire"),
])
def test_same_question_written_differently_has_one_key(a: str, b: str) -> None:
    assert question_key(a) == question_key(b)


@pytest.mark.parametrize(("a", "b"), [
    ("My order arrived", "My order has not arrived"),
    ("Where is my invoice?", "Where is my order?"),
    ("Opening hours?", "Are you open on Sunday?"),
])
def test_different_questions_keep_different_keys(a: str, b: str) -> None:
    assert not similar_keys(question_key(a), question_key(b))


def test_greetings_alone_are_not_questions() -> None:
    assert question_key("Bonjour !") == question_key("merci") == question_key("Hello, thanks") == ""


def test_every_question_of_the_fixture_is_read_whole() -> None:
    assert all(question_text(q) == q for qs in GROUPS.values() for q in qs)


def test_a_long_message_is_keyed_by_its_start() -> None:
    """A key reads at most QUESTION_TEXT characters: the words of a 64,000-character message
    after them cost the API's time at accept and never change which question it asks."""
    question = "Où est ma commande ? "
    long = question + "Je précise que j'attends depuis lundi. " * 1_700 + "remboursement"
    assert question_key(long) == question_key(question + "Je précise que j'attends depuis lundi.")
    assert "rembours" not in question_key(long)
    expanding = "\ufdfa" * 64_000  # 18 letters and spaces each once normalised
    assert len(question_text(expanding)) == QUESTION_TEXT
    assert question_key(expanding) == question_key("\ufdfa" * QUESTION_TEXT) != ""


def test_the_start_a_key_reads_ends_between_two_words() -> None:
    text = "commandes " * 300
    head = question_text(text)
    assert len(head) <= QUESTION_TEXT and text.startswith(head) and text[len(head)].isspace()
    assert question_key(text) == question_key("commandes")  # no "comm" cut off a word
