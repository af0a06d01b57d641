"""Who a subject request is about: an email found wherever a visitor or a bot wrote it, and only there."""

from __future__ import annotations

import pytest

from notifier.core.subject import Subject, SubjectError

HER = Subject.email("Jeanne.Martinez@Example.org")


@pytest.mark.parametrize("text", [
    "écrivez-moi à jeanne.martinez@example.org",
    "JEANNE.MARTINEZ@EXAMPLE.ORG, merci",
    "(jeanne.martinez@example.org)",
    "mail: <Jeanne.Martinez@example.org>.",
    "https://shop.example/contact?from=jeanne.martinez%40example.org&x=1",
    "https://shop.example/contact?from=Jeanne.Martinez%40Example.org",
    "ｊｅａｎｎｅ.martinez@example.org",  # full-width letters, as some keyboards type them (NFKC)
])
def test_her_address_is_found_in_free_text(text: str) -> None:
    assert HER.mentioned_in({"message": text})
    assert HER.mentioned_in({"transcript": [{"role": "user", "text": text}]})
    assert HER.mentioned_in({"tool": {"arguments": {"notes": [text]}}})


@pytest.mark.parametrize("text", [
    "ajeanne.martinez@example.org",          # a longer local part: somebody else
    "jeanne.martinez@example.org.uk",        # a longer domain
    "jeanne.martinez@example.organic",
    "jeanne.martinez+shop@example.org",      # a sub-address is an address of its own
    "jeanne martinez, example.org",
    "commande 48213 du 12/03",
])
def test_others_are_not_her(text: str) -> None:
    assert not HER.mentioned_in({"message": text})


def test_her_own_events_are_those_where_she_is_the_user() -> None:
    assert HER.is_user_of({"user": {"email": "JEANNE.MARTINEZ@example.org"}})
    tool = {"name": "send_support_email", "arguments": {"email": "jeanne.martinez@example.org"}}
    assert HER.is_user_of({"tool": tool})
    assert not HER.is_user_of({"message": "jeanne.martinez@example.org", "user": {"email": "paul@example.net"}})
    assert not HER.is_user_of({"user": {"email": "not an address"}})


def test_identifiers_are_checked_and_normalised() -> None:
    assert Subject.email("Jeanne.Martinez@Example.ORG") == HER
    for bad in ("", "jeanne", "jeanne@", "@example.org", "a b@example.org", "x" * 400 + "@example.org"):
        with pytest.raises(SubjectError):
            Subject.email(bad)
    with pytest.raises(SubjectError):
        Subject.conversation("")
    assert Subject.conversation("Conv-1").value == "Conv-1"  # ids are exact


def test_the_audit_hash_is_keyed_and_stable() -> None:
    key = b"k" * 32
    assert HER.digest(key) == Subject.email("JEANNE.MARTINEZ@example.org").digest(key)
    assert HER.digest(key) != HER.digest(b"other key")
    assert HER.digest(key) != Subject.conversation(HER.value).digest(key)
    assert "jeanne" not in HER.digest(key)
