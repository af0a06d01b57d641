"""Precision and recall of notifier.core.redact on the built-in corpus.

Run: ``python bench/redaction.py``. A placeholder in the output is a true positive when
the expected text has one of the same kind at that place in the sequence of placeholders
of the entry; extra ones are false positives (data that was not personal, hidden), missing
ones false negatives (personal data left visible).
"""
from __future__ import annotations

import re
from collections import Counter

from notifier.core.redact import redact
from notifier.core.redact_corpus import CORPUS

_PLACEHOLDER = re.compile(r"\[(email|téléphone|carte|iban|ip)\]")


def main() -> None:
    tp = fp = fn = 0
    exact = 0
    for text, expected in CORPUS:
        got = redact(text, locale="fr")
        exact += got == expected
        want = Counter(_PLACEHOLDER.findall(expected)) - Counter(_PLACEHOLDER.findall(text))
        have = Counter(_PLACEHOLDER.findall(got)) - Counter(_PLACEHOLDER.findall(text))
        hit = sum((want & have).values())
        tp += hit
        fp += sum(have.values()) - hit
        fn += sum(want.values()) - hit
        if got != expected:
            print(f"differs: {text!r}\n   got: {got!r}\n  want: {expected!r}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"texts: {len(CORPUS)}  exact: {exact}  found: {tp}  false positives: {fp}  missed: {fn}")
    print(f"precision: {precision:.3f}  recall: {recall:.3f}")


if __name__ == "__main__":
    main()
