"""Redaction of personal data in visitor text, on a corpus of real-looking messages."""
from __future__ import annotations

import pytest

from notifier.core.events import Event
from notifier.core.privacy import for_channel
from notifier.core.redact import find, redact
from notifier.core.redact_corpus import CORPUS


@pytest.mark.parametrize(("text", "expected"), CORPUS, ids=[t[:40] for t, _ in CORPUS])
def test_corpus_entry_is_redacted_as_expected(text: str, expected: str) -> None:
    assert redact(text, locale="fr") == expected


def test_english_placeholders() -> None:
    text = "Call 06 12 34 56 78, card 4111 1111 1111 1111, a@b.io, 10.0.0.1, GB82WEST12345698765432"
    assert redact(text, locale="en") == "Call [phone], card [card], [email], [ip], [iban]"


def test_only_the_chosen_kinds_are_redacted() -> None:
    text = "marie@example.fr, 06 12 34 56 78, 4111 1111 1111 1111"
    assert redact(text, ["card"]) == "marie@example.fr, 06 12 34 56 78, [carte]"
    assert redact(text, []) == text


def test_an_iban_is_not_also_read_as_phone_or_card() -> None:
    found = find("FR76 3000 6000 0112 3456 7890 189")
    assert [f.kind for f in found] == ["iban"]


def test_an_iban_with_a_wrong_checksum_survives() -> None:
    assert redact("FR77 3000 6000 0112 3456 7890 189", ["iban"]) == "FR77 3000 6000 0112 3456 7890 189"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="passport"):
        redact("x", ["passport"])


# The worker redacts each delivery's event in its loop: the time spent here holds every
# send. `python bench/hostile_text.py` measures it (a pass over an event of the API's largest
# is hundredths of a second; the quadratic scans these inputs once met took 20-45 s); the
# tests below hold what is redacted at those sizes.


def test_a_long_run_without_an_address_is_left_as_it_is() -> None:
    text = "0" * 64_000  # a message as long as the API accepts: digits, no "@"
    assert redact(text, ["email"]) == text


def test_an_event_full_of_addresses_is_redacted_whole() -> None:
    """About 9,000 addresses in each of 15 texts of 64,000 characters: within the API's 1 MiB."""
    text = ("a@b.co " * 10_000)[:64_000]
    event = Event.model_validate({"kind": "support_request", "message": text,
                                  "transcript": [{"role": "user", "text": text}] * 14})
    shown = for_channel(event, None, ["email"])
    assert shown.message is not None and set(shown.message.split()) == {"[email]"}
    assert all(set(t.text.split()) == {"[email]"} for t in shown.transcript)
