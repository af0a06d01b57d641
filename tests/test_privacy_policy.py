"""Per-channel data policy (``privacy`` in channels.yaml), seen in what channels really receive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.config.loader import load_config
from notifier.core.events import Event
from tests.channels.fakes import FakeSlack
from tests.channels.test_email import Mailbox, Start, mailbox, smtp_server, tls  # noqa: F401  (fixtures)
from tests.conftest import ServiceFactory

CARD = "4111 1111 1111 1111"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


def config(slack: FakeSlack, smtp_port: int) -> str:
    return f"""
version: 1
defaults:
  privacy: {{redact: [card]}}
channels:
  slack:
    type: slack
    token: {slack.token}
    channel: "#support"
    base_url: "{slack.api_url}"
    privacy: {{include: [message, page]}}
  mail:
    type: email
    to: [support@votresite.com]
    from: "Chatbot <bot@votresite.com>"
    smtp: "smtp://127.0.0.1:{smtp_port}"
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [slack, mail]
"""


def request() -> Event:
    return Event.model_validate({
        "id": "p1", "kind": "support_request", "site": "shop.example.com", "conversation_id": "c-1",
        "message": f"Débité deux fois sur ma carte {CARD}, écrivez-moi",
        "page": {"url": "https://shop.example.com/orders", "title": "Mes commandes"},
        "user": {"name": "Marie Dupont", "email": "marie@example.com", "phone": "+33 6 12 34 56 78",
                 "consent": True},
        "transcript": [{"role": "user", "text": f"ma carte {CARD} a été refusée"}],
        "occurred_at": "2026-03-12T10:00:00Z"})


async def test_each_channel_sees_what_its_policy_allows(make_service: ServiceFactory, slack: FakeSlack,
                                                        smtp_server: Start, mailbox: Mailbox) -> None:  # noqa: F811
    service = await make_service(config(slack, await smtp_server()))
    assert service.worker is not None
    await service.accept([request()])
    await service.worker.drain()

    (posted,) = slack.messages
    seen = json.dumps(posted, ensure_ascii=False)
    assert "Débité deux fois sur ma carte [carte]" in seen and "Mes commandes" in seen
    assert "marie@example.com" not in seen and "Marie Dupont" not in seen and "12 34 56 78" not in seen
    assert CARD not in seen

    (mail,) = mailbox.received
    text = mail.part("plain")
    assert "Débité deux fois sur ma carte [carte], écrivez-moi" in text
    assert "ma carte [carte] a été refusée" in text
    assert "marie@example.com" in text  # the email channel keeps the consented details
    assert CARD not in mail.message.as_string()


def test_explain_render_shows_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], slack: FakeSlack) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "channels.yaml").write_text(config(slack, 2525), encoding="utf-8")
    (tmp_path / "event.json").write_text(request().model_dump_json(), encoding="utf-8")
    assert main(["explain", "event.json", "--json", "--render"]) == 0
    rendered = json.loads(capsys.readouterr().out)["rendered"]
    assert "[carte]" in rendered["slack"] and "marie@example.com" not in rendered["slack"]
    assert "[carte]" in rendered["mail"] and "marie@example.com" in rendered["mail"]
    assert CARD not in rendered["slack"] + rendered["mail"]


def test_a_channel_policy_inherits_unset_fields_from_defaults(tmp_path: Path, slack: FakeSlack) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(config(slack, 2525), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.privacy_for("slack").include == ["message", "page"]
    assert cfg.privacy_for("slack").redact == ["card"]
    assert cfg.privacy_for("mail").include is None


def test_an_unknown_field_in_include_is_refused_with_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               slack: FakeSlack) -> None:
    monkeypatch.chdir(tmp_path)
    text = config(slack, 2525).replace("include: [message, page]", "include: [message, passport]")
    (tmp_path / "channels.yaml").write_text(text, encoding="utf-8")
    assert main(["check"]) != 0
    err = capsys.readouterr()
    assert "channels.yaml:" in err.err + err.out and "passport" in err.err + err.out


@pytest.mark.parametrize(("given", "stored"), [("203.0.113.77", "203.0.113.0"),
                                               ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
                                               ("not an address", None)])
async def test_ip_anonymised_before_storage(make_service: ServiceFactory, slack: FakeSlack,
                                            given: str, stored: str | None) -> None:
    text = config(slack, 2525).replace("privacy: {redact: [card]}", "privacy: {redact: [card], ip: anonymise}")
    service = await make_service(text)
    event = request().model_copy(update={"user": request().user.model_copy(update={"ip": given})})  # type: ignore[union-attr]
    await service.accept([event])
    found = await service.store.get_event("p1")
    assert found is not None and found[0].user is not None
    assert found[0].user.ip == stored


async def test_ip_kept_by_default(make_service: ServiceFactory, slack: FakeSlack) -> None:
    service = await make_service(config(slack, 2525))
    event = request().model_copy(update={"user": request().user.model_copy(update={"ip": "203.0.113.77"})})  # type: ignore[union-attr]
    await service.accept([event])
    found = await service.store.get_event("p1")
    assert found is not None and found[0].user is not None and found[0].user.ip == "203.0.113.77"


def test_notifier_test_applies_and_states_the_channel_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str],
                                                             slack: FakeSlack) -> None:
    monkeypatch.chdir(tmp_path)
    text = config(slack, 2525).replace("privacy: {include: [message, page]}",
                                       "privacy: {include: [message, page, transcript], redact: [email, phone]}")
    (tmp_path / "channels.yaml").write_text(text, encoding="utf-8")
    assert main(["test", "slack"]) == 0
    out = capsys.readouterr().out
    assert "privacy: slack voit : message, page, transcription ; masque dans le texte : emails, téléphones" in out
    (posted,) = slack.messages
    seen = json.dumps(posted, ensure_ascii=False)
    # The sample transcript line, as the policy lets Slack see it; never the user's details.
    assert "Mon numéro : [téléphone], mon email : [email]" in seen
    assert "test@example.com" not in seen and "12 34 56 78" not in seen
