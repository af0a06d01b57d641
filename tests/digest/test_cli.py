"""``notifier digest``: preview without sending, send a past period on purpose."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifier import digest_cli
from notifier.store import store_for
from tests.digest.conftest import CONFIG, add, make_config
from tests.digest.fixture_day import day_events
from tests.sink import Sink


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    digest_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def setup(tmp_path: Path, sink: Sink) -> tuple[str, str]:
    config_path = tmp_path / "channels.yaml"
    config_path.write_text(CONFIG.replace("http://127.0.0.1:9/hook", sink.url), encoding="utf-8")
    db = f"sqlite:///{tmp_path}/notifier.db"

    async def fill() -> None:
        store = store_for(db)
        await store.open()
        await add(store, make_config(), day_events(date(2026, 3, 11), "Europe/Paris"),
                  now=datetime(2026, 3, 12, tzinfo=UTC))
        await store.close()

    asyncio.run(fill())
    return str(config_path), db


def test_preview_prints_without_sending(setup: tuple[str, str], sink: Sink,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config, db = setup
    assert digest_cli.run(cli("--preview", "--date", "2026-03-11", "--config", config, "--db", db)) == 0
    out = capsys.readouterr().out
    assert "Résumé AAIA : mercredi 11 mars 2026" in out and "QUESTIONS LES PLUS COURANTES" in out
    assert digest_cli.run(cli("--date", "2026-03-11", "--format", "slack", "--config", config, "--db", db)) == 0
    blocks = json.loads(capsys.readouterr().out)
    assert blocks[0]["type"] == "header"
    assert digest_cli.run(cli("--date", "2026-03-11", "--json", "--config", config, "--db", db)) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["conversations"] == 40
    assert sink.received == []  # nothing was sent


def test_send_a_past_day_again_on_purpose(setup: tuple[str, str], sink: Sink) -> None:
    config, db = setup
    args = ("--send", "--name", "daily", "--date", "2026-03-11", "--config", config, "--db", db)
    assert digest_cli.run(cli(*args)) == 0
    assert digest_cli.run(cli(*args)) == 0  # --date forces a new claim
    asyncio.run(sink.wait_for(2))
    assert len(sink.keys()) == 1  # the same report key: a receiver can tell it is a resend
    assert sink.received[0].json()["title"] == "Résumé AAIA : mercredi 11 mars 2026"


def test_send_refuses_an_email_channel_that_would_only_reach_the_capture_inbox(
        setup: tuple[str, str], sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # `digest --send` through the deployment's alias (no notifier.env, so SMTP_URL empty) said
    # "sent" of a mail only the capture inbox saw, and claimed the period from the service.
    config, db = setup
    text = Path(config).read_text(encoding="utf-8")
    Path(config).write_text(text.replace("channels:\n", "channels:\n  mail: {type: email, to: [team@example.com], "
                                         "smtp: \"${SMTP_URL:-}\"}\n", 1).replace("to: [hook]", "to: [hook, mail]"),
                            encoding="utf-8")
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("NOTIFIER_INBOX", str(tmp_path / "inbox"))
    assert digest_cli.run(cli("--send", "--name", "daily", "--config", config, "--db", db)) == 1
    assert capsys.readouterr().err.startswith("error: channel 'mail': no SMTP server")
    assert sink.received == [] and not (tmp_path / "inbox").exists()
    assert digest_cli.run(cli("--send", "--name", "daily", "--dev", "--config", config, "--db", db)) == 0
    asyncio.run(sink.wait_for(1))  # on purpose, with --dev: sent, the mail captured
