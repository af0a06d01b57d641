"""The user is told: one email per case, with consent and a valid address, in their language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.config import ConfigError, parse_config
from notifier.core.events import Event
from notifier.inbox import captured
from notifier.service import Service
from tests.conftest import ServiceFactory

FRIDAY_EVENING = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # 19:00 in Paris

CONFIG = """version: 1
defaults:
  timezone: Europe/Paris
  response_target: 2h
  acknowledge: {via: mail}
channels:
  mail: {type: email, to: [support@example.com], from: "Support <support@example.com>"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [mail]
  - name: quiet
    match: {kinds: [contact_request]}
    to: [mail]
    acknowledge: {via: mail, enabled: false}
"""


def request(event_id: str, **kw: Any) -> Event:
    data: dict[str, Any] = {"id": event_id, "kind": "support_request", "site": "shop.example.com",
                            "conversation_id": f"conv-{event_id}", "message": "Ma commande n'est pas arrivée",
                            "user": {"name": "Ana", "email": "ana@example.com", "consent": True}}
    data.update(kw)
    return Event.model_validate(data)


@pytest.fixture
async def service(make_service: ServiceFactory) -> Service:
    return await make_service(CONFIG, clock=lambda: FRIDAY_EVENING)


def mails_to(inbox: Path, address: str) -> list[Any]:
    return [m for m in captured(inbox) if m.to == address]


async def test_the_user_is_told_once_when_to_expect_an_answer(service: Service, tmp_path: Path) -> None:
    await service.accept([request("e1")])
    await service.accept([request("e2", conversation_id="conv-e1")])  # the same case: no second email
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "ana@example.com")
    assert ack.subject == "Nous avons bien reçu votre demande (shop.example.com)"
    body = ack.message().get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith("Bonjour,") and "d'ici lundi 11:00" in text
    assert ack.message()["X-Notifier-Kind"] == "acknowledgement"
    # The team got its notification as before (the second request was folded by dedup).
    assert len(mails_to(tmp_path / "inbox", "support@example.com")) == 1


async def test_in_english_for_an_english_speaker(service: Service, tmp_path: Path) -> None:
    await service.accept([request("e1", locale="en")])
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "ana@example.com")
    assert ack.subject == "We have received your request (shop.example.com)"
    body = ack.message().get_body(("plain",))
    assert body is not None and "answer by Monday 11:00" in body.get_content()


async def test_the_user_s_words_are_not_mailed_to_the_address_they_typed(service: Service, tmp_path: Path) -> None:
    """Anyone can type anyone's address in the chat box: an acknowledgement that quoted the
    message or the name would carry a stranger's text from the site's own mail server to
    whoever that address belongs to (relay spam; Zendesk suppresses these placeholders in
    such mails for this reason: https://support.zendesk.com/hc/en-us/articles/4408833443226)."""
    lure = "Votre compte est suspendu : https://evil.example/login"
    await service.accept([request("e1", message=lure, user={"name": "Cher client, appelez le 0899 00 00 00",
                                                             "email": "victim@example.com", "consent": True})])
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "victim@example.com")
    sent = ack.message().as_string()
    assert "evil.example" not in sent and "0899" not in sent and "Cher client" not in sent
    # The team still reads both, in its own email.
    [alert] = mails_to(tmp_path / "inbox", "support@example.com")
    assert "evil.example" in alert.message().as_string()


@pytest.mark.parametrize("user", [
    {"name": "Ana", "email": "ana@example.com", "consent": False},
    {"name": "Ana", "email": "ana@", "consent": True},
    {"name": "Ana", "email": "ana@example.com\nBcc: x@evil.example", "consent": True},
    {"name": "Ana", "phone": "+33 6 12 34 56 78", "consent": True},
])
async def test_no_consent_or_no_valid_address_no_email(service: Service, tmp_path: Path,
                                                       user: dict[str, Any]) -> None:
    await service.accept([request("e1", user=user)])
    assert service.worker is not None
    await service.worker.drain()
    assert [m.to for m in captured(tmp_path / "inbox")] == ["support@example.com"]


async def test_a_route_can_turn_it_off(service: Service, tmp_path: Path) -> None:
    await service.accept([request("e1", kind="contact_request")])
    assert service.worker is not None
    await service.worker.drain()
    assert [m.to for m in captured(tmp_path / "inbox")] == ["support@example.com"]


def test_acknowledge_must_name_an_email_channel() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("acknowledge: {via: mail}", "acknowledge: {via: mial}"))
    assert "defaults.acknowledge.via: unknown channel 'mial' (did you mean 'mail'?)" in str(caught.value.issues[0])
    text = CONFIG.replace("acknowledge: {via: mail}", "acknowledge: {via: hook}").replace(
        "channels:\n", "channels:\n  hook: {type: webhook, url: 'https://example.com'}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "channel 'hook' is a webhook channel" in str(caught.value.issues[0])


@pytest.mark.parametrize("name", ["acknowledge", "escalation", "follow-up", "fallback"])
def test_a_route_cannot_take_a_name_notifier_gives_its_own_deliveries(name: str) -> None:
    """On its acknowledgement route the email channel mails the event's ``ack_address`` label,
    on its escalation route the subject says the ``escalation`` label: a route of the
    configuration so named let a visitor's labels send the team's alert to a stranger
    (``labels: {ack_address: victim@…}``) or write "Escalade 99 : appelez le 0899" on it."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("- name: handoff", f"- name: {name}"))
    assert f"routes[0].name: route name {name!r} is notifier's own" in str(caught.value.issues[0])


def test_the_reserved_names_are_those_notifier_uses() -> None:
    from notifier.acknowledge import ACKNOWLEDGE_ROUTE
    from notifier.config.errors import RESERVED_ROUTE_NAMES
    from notifier.core.routing import FALLBACK_ROUTE
    from notifier.escalation import ESCALATION_ROUTE
    from notifier.follow_ups import FOLLOW_UP_ROUTE

    assert set(RESERVED_ROUTE_NAMES) == {ACKNOWLEDGE_ROUTE, ESCALATION_ROUTE, FOLLOW_UP_ROUTE, FALLBACK_ROUTE}


async def test_the_first_request_that_gives_an_address_is_acknowledged(service: Service, tmp_path: Path) -> None:
    # The visitor first asks for a human without an address, then leaves one to be contacted:
    # the address arrives with the second request of the case, and that one is acknowledged.
    await service.accept([request("e1", user={"name": "Ana"})])
    await service.accept([request("e2", conversation_id="conv-e1")])
    await service.accept([request("e3", conversation_id="conv-e1")])  # still one email per case
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "ana@example.com")
    body = ack.message().get_body(("plain",))
    assert body is not None and "d'ici lundi 11:00" in body.get_content()


async def test_a_late_address_is_not_promised_a_time_already_past(make_service: ServiceFactory,
                                                                   tmp_path: Path) -> None:
    # The address comes on Tuesday with a new request of a case due on Monday: the email
    # promises no time that has passed ("d'ici aujourd'hui 11:00" at 15:00).
    now = [FRIDAY_EVENING]
    service = await make_service(CONFIG, clock=lambda: now[0])
    await service.accept([request("e1", user={"name": "Ana"})])
    now[0] = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    await service.accept([request("e2", conversation_id="conv-e1")])
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "ana@example.com")
    body = ack.message().get_body(("plain",))
    assert body is not None
    assert "dès que possible" in body.get_content() and "d'ici" not in body.get_content()


@pytest.mark.parametrize(("locale", "subject", "says"), [
    ("fr-FR", "Nous avons bien reçu votre demande (shop.example.com)", "d'ici lundi 11:00"),
    ("en_GB", "We have received your request (shop.example.com)", "answer by Monday 11:00"),
    ("EN-us", "We have received your request (shop.example.com)", "answer by Monday 11:00"),
])
async def test_a_regional_locale_gets_its_language(service: Service, tmp_path: Path, locale: str, subject: str,
                                                   says: str) -> None:
    # Browsers say "fr-FR": the visitor reads French, not English with a French date in it.
    await service.accept([request("e1", locale=locale)])
    assert service.worker is not None
    await service.worker.drain()
    [ack] = mails_to(tmp_path / "inbox", "ana@example.com")
    assert ack.subject == subject
    body = ack.message().get_body(("plain",))
    assert body is not None and says in body.get_content()


async def test_an_acknowledgement_replayed_after_an_erasure_reaches_nobody(service: Service, tmp_path: Path) -> None:
    # Ana was told "we got it", then asked to be erased. An operator replays that mail (notifier
    # replay ID takes sent deliveries too): nothing is left of it, not even her address. It must
    # not go anywhere, least of all to the team as an empty alert: the replay is refused.
    from notifier.core.subject import Subject
    from notifier.privacy import erase_subject
    from notifier.store.cases import CaseStore

    [accepted] = await service.accept([request("e1")])
    assert service.worker is not None and accepted.case is not None
    await service.worker.drain()
    inbox = tmp_path / "inbox"
    assert len(mails_to(inbox, "ana@example.com")) == 1
    before = len(captured(inbox))
    await erase_subject(service.config, service.store, Subject.email("ana@example.com"), erased_by="dpo",
                        via="cli", now=FRIDAY_EVENING)
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    [ack] = [d for d in history["deliveries"] if d["route"] == "acknowledge"]
    assert await service.store.replay(FRIDAY_EVENING, ack["id"]) == []
    await service.worker.drain()
    assert len(captured(inbox)) == before
    history = await CaseStore(service.store.connector()).history(accepted.case["id"])
    [ack] = [d for d in history["deliveries"] if d["route"] == "acknowledge"]
    assert ack["status"] == "sent"
