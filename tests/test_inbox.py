"""The capture inbox: a real SMTP server keeping mails as files, and ``notifier inbox``."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifier import cli
from notifier.channels import email as email_channel
from notifier.config.models import EmailChannel
from notifier.core.events import Priority
from notifier.inbox import Inbox, captured
from tests.channels.samples import context, event, outbound


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Inbox]:
    box = Inbox(tmp_path / "inbox")
    await box.start()
    yield box
    await box.stop()


def target(address: str, **config: object) -> email_channel.EmailTarget:
    ctx = context()
    ctx.inbox = address
    settings = {"type": "email", "to": ["support@votresite.com"], "bcc": ["audit@votresite.com"],
                "from": "Chatbot <no-reply@votresite.com>", **config}
    return email_channel.create("support-email", EmailChannel.model_validate(settings), ctx)


async def test_mails_land_as_eml_files(inbox: Inbox) -> None:
    assert inbox.address.startswith("127.0.0.1:") and not inbox.address.endswith(":0")
    channel = target(inbox.address)
    assert (await channel.send(outbound(event(), delivery_id="d-1", priority=Priority.normal))).ok
    assert (await channel.send(outbound(event(kind="contact_request"), delivery_id="d-2",
                                        priority=Priority.normal))).ok
    files = sorted(p.name for p in inbox.directory.iterdir())
    assert len(files) == 2 and all(name.endswith(".eml") for name in files)  # no half-written leftovers
    newest, oldest = captured(inbox.directory)
    assert (newest.number, oldest.number) == (1, 2)
    assert newest.subject == "Nouvelle Demande de Contact du Chatbot AAIA"
    assert oldest.subject == "Nouvelle Demande de Support du Chatbot AAIA"
    assert newest.to == "support@votresite.com, audit@votresite.com"  # bcc is visible in the inbox
    assert oldest.message()["Message-ID"] == "<d-1@votresite.com>"


async def test_cli_lists_newest_first_and_prints_a_mail(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    channel = target(inbox.address)
    await channel.send(outbound(event(), delivery_id="d-1", priority=Priority.normal))
    await channel.send(outbound(event(kind="contact_request"), delivery_id="d-2", priority=Priority.urgent))
    directory = str(inbox.directory)

    assert cli.main(["inbox", "--dir", directory]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "time", "from", "to", "subject"]
    assert lines[1].startswith("  1  ") and lines[1].endswith("[URGENT] Nouvelle Demande de Contact du Chatbot AAIA")
    assert lines[2].startswith("  2  ") and lines[2].endswith("Nouvelle Demande de Support du Chatbot AAIA")
    assert "no-reply@votresite.com" in lines[1] and "support@votresite.com" in lines[1]

    assert cli.main(["inbox", "--dir", directory, "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("From: Chatbot <no-reply@votresite.com>\nTo: support@votresite.com\n")
    assert "Subject: Nouvelle Demande de Support du Chatbot AAIA\nDate: " in out
    assert "\n\nBonjour,\n\nUn utilisateur a demandé du support via votre chatbot AAIA.\n" in out
    assert "<html" not in out and "=C3=A9" not in out  # the text part, decoded

    assert cli.main(["inbox", "--dir", directory, "1", "--html"]) == 0
    assert "<table role=\"presentation\"" in capsys.readouterr().out

    assert cli.main(["inbox", "--dir", directory, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in rows] == [1, 2] and rows[0]["subject"].startswith("[URGENT]")
    assert cli.main(["inbox", "--dir", directory, "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["headers"]["X-Notifier-Priority"] == "urgent" and one["text"].startswith("Bonjour,")


def test_cli_on_an_empty_or_missing_inbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inbox", "--dir", str(tmp_path / "none")]) == 0
    assert "no mail captured" in capsys.readouterr().out
    assert cli.main(["inbox", "--dir", str(tmp_path / "none"), "3"]) == 1
    assert "no mail #3" in capsys.readouterr().err


async def test_fixed_port_and_stop(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Inbox(tmp_path / "fixed", port=port)
    await box.start()
    assert box.address == f"127.0.0.1:{port}"
    assert (await target(box.address).send(outbound(event()))).ok
    await box.stop()
    # Mails stay after the server stops; a send now fails in a way worth retrying.
    assert len(captured(tmp_path / "fixed")) == 1
    assert (await target(f"127.0.0.1:{port}").send(outbound(event()))).status == "retry"


async def test_list_times_are_in_the_mails_zone_and_say_so(inbox: Inbox, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    config = tmp_path / "paris.yaml"
    config.write_text("version: 1\ndefaults: {timezone: Europe/Paris}\n", encoding="utf-8")
    await target(inbox.address).send(outbound(event(), delivery_id="d-tz", priority=Priority.normal))
    assert cli.main(["inbox", "--dir", str(inbox.directory), "--config", str(config)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    listed = datetime.strptime(f"{row[1]} {row[2]}", "%Y-%m-%d %H:%M:%S")
    assert row[3] in ("CET", "CEST")
    sent = parsedate_to_datetime(str(captured(inbox.directory)[0].message()["Date"]))
    # The mail's Date is Paris time: the list shows the same clock time, give or take the delivery.
    assert abs((listed - sent.replace(tzinfo=None)).total_seconds()) < 60
