"""Question keys: the same question written differently gets the same key.

Two steps, so that the database does the counting:

1. At accept time, :func:`question_key` turns a user's message into a key that ignores
   case, accents, punctuation, word order, plurals, greetings and filler words (French and
   English): ``"Où est ma commande ?"`` and ``"ma commande est où"`` both give
   ``"commande ou"``. The key is stored with the event and the digest counts
   ``GROUP BY question_key``.
2. At digest time, :func:`group_questions` merges the most frequent keys that differ only
   by small typos (``"delivery"`` / ``"dleivery"``), keeping the most frequent spelling's
   example.

Example::

    >>> question_key("Où est ma commande ?") == question_key("ma commande, elle est où")
    True
    >>> [g.count for g in group_questions([("commande ou", 5, "Où est ma commande ?"),
    ...                                    ("comande ou", 1, "ou est ma comande")])]
    [6]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from notifier.core.text import fold

__all__ = ["QUESTION_TEXT", "QuestionGroup", "group_questions", "question_key", "question_text", "similar_keys"]

# Words that carry no meaning of their own in a support question: articles, pronouns,
# auxiliaries, modal verbs, prepositions, greetings and politeness. Negations ("not",
# "pas", "jamais") and question words ("where", "où", "quand") are kept on purpose: they
# tell different questions apart.
_STOP_EN_TEXT = """
    a an the is are am was were be been being i im me my mine you your yours we our us
    it its they them their he she him her this that these those to of in on at for from
    with by do does did done can could would will shall should may might must have has
    had get got there here s t d ll re ve m and so some any just yet want what which
    please pls plz hi hello hey thanks thank thx ok okay dear sir madam again also still
    """
_STOP_FR_TEXT = """
    le la les l un une des de du d au aux mon ma mes ton ta tes son sa ses notre nos
    votre vos leur leurs je j me m moi tu te t toi il elle on nous vous ils elles ce c
    cet cette ces ca est sont suis es etes etre ete ai a as avez avons ont avoir qu que
    qui y en et dans sur pour par avec ne n se s peux pouvez peut puis pourrais pourriez
    pourrait voudrais veux voulez souhaite souhaiterais aimerais faut bonjour bonsoir
    salut coucou merci svp stp madame monsieur encore aussi deja bien tres toujours vais
    va vas quel quels quelle quelles
    """
STOPWORDS = frozenset(_STOP_EN_TEXT.split()) | frozenset(_STOP_FR_TEXT.split())

# A regex scan in C: ``str.translate`` looks each character up in a dict, which on folded
# text of thousands of letters cost more than the rest of the key.
_APOSTROPHES = re.compile("[’‘`´]")
# Each with a substring every match contains: most messages have none of them, and an
# ``in`` test costs far less than a regex scan (the key is computed for every event accepted).
_CONTRACTIONS = (
    ("can", re.compile(r"\bcan'?t\b|\bcannot\b"), "can not"),
    ("won", re.compile(r"\bwon'?t\b"), "will not"),
    ("n't", re.compile(r"n't\b"), " not"),
    ("nt", re.compile(r"\b(do|does|did|have|has|had|is|are|was|were|could|would|should)nt\b"), r"\1 not"),
)
_WORD = re.compile(r"[^\W_]+")


def _stem(word: str) -> str:
    # Plurals only ("orders", "commandes", "heures", "prix"): enough to fold the common
    # variants without merging different words, in both languages.
    if word.isdigit():
        return "#" if len(word) >= 3 else word  # order numbers: "order 12345" is one question
    if len(word) > 3 and word[-1] in "sx" and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The meaningful words of ``text``, folded and stemmed, in their order."""
    t = _APOSTROPHES.sub("'", fold(text))
    for needle, pattern, replacement in _CONTRACTIONS:
        if needle in t:
            t = pattern.sub(replacement, t)
    return [_stem(w) for w in _WORD.findall(t) if w not in STOPWORDS]


#: How much of a message its question key reads, in characters: a question is a sentence
#: or two. Every accepted message is keyed, and a message may be 64,000 characters that
#: Unicode normalisation can turn into 18 letters each (U+FDFA): reading it all cost a
#: second of the API's time per message.
QUESTION_TEXT = 1_000


def question_text(text: str) -> str:
    """The start of ``text`` a question key is made of: at most :data:`QUESTION_TEXT`
    characters, ending between two words when there is a space to end at."""
    if len(text) <= QUESTION_TEXT:
        return text
    head = text[:QUESTION_TEXT]
    if text[QUESTION_TEXT].isspace():
        return head
    whole = head.rsplit(None, 1)  # without the word the limit cut in two, if another is left
    return whole[0] if len(whole) == 2 else head


def question_key(text: str) -> str:
    """The key of a user's question: the meaningful words of its first
    :data:`QUESTION_TEXT` characters, deduplicated and sorted.

    Empty when nothing meaningful is left (``"Bonjour !"``, ``"merci"``): such messages
    are not questions and are not counted among them.
    """
    return " ".join(sorted(set(words(question_text(text)))))[:300]


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, or ``limit + 1`` beyond it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _typo_budget(word: str) -> int:
    # Short words change meaning with one letter ("hour"/"four"); long ones survive two typos.
    n = len(word)
    return 0 if n <= 4 else 1 if n <= 8 else 2


def _close(a: str, b: str) -> bool:
    budget = _typo_budget(max(a, b, key=len))
    if budget == 0 and len(a) == len(b) == 4 and sorted(a) == sorted(b):
        return _distance(a, b, 1) <= 1  # "tkae" for "take": swapped letters, not another word
    return budget > 0 and _distance(a, b, budget) <= budget


def similar_keys(a: str, b: str) -> bool:
    """Whether two question keys are the same words up to small typos."""
    if a == b:
        return True
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb):
        return False
    rest_b = list(wb)
    unmatched = []
    for w in wa:
        if w in rest_b:
            rest_b.remove(w)
        else:
            unmatched.append(w)
    if len(unmatched) > max(1, len(wa) // 2):
        return False  # mostly different words: a different question, however close the letters
    for w in unmatched:
        match = next((x for x in rest_b if _close(w, x)), None)
        if match is None:
            return False
        rest_b.remove(match)
    return True


@dataclass
class QuestionGroup:
    """Questions counted as one: the most frequent key, the total count, one example."""

    key: str
    count: int
    example: str
    keys: list[str] = field(default_factory=list)


def group_questions(counted: Iterable[tuple[str, int, str]]) -> list[QuestionGroup]:
    """Merge ``(key, count, example)`` rows whose keys differ by small typos.

    Rows are taken most frequent first; each joins the first group holding a similar key,
    so a group's key and example are the way most people wrote it. The groups come back
    most frequent first (ties by key, so the order is stable).
    """
    groups: list[QuestionGroup] = []
    by_size: dict[int, list[QuestionGroup]] = {}
    for key, count, example in sorted(counted, key=lambda r: (-r[1], r[0])):
        if not key:
            continue
        size = len(key.split())
        for group in by_size.get(size, []):
            if any(similar_keys(k, key) for k in group.keys):
                group.count += count
                group.keys.append(key)
                break
        else:
            group = QuestionGroup(key, count, example, [key])
            groups.append(group)
            by_size.setdefault(size, []).append(group)
    return sorted(groups, key=lambda g: (-g.count, g.key))
