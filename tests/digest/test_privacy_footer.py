"""The digest states the data policy in force: retention, what is hidden, what each channel sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.channels.base import Report
from notifier.config.loader import parse_config
from notifier.core.digest import DigestStats, Health, Period, Totals
from notifier.digest.report import build_report
from notifier.render import Renderer

CONFIG = """
version: 1
defaults:
  timezone: Europe/Paris
  locale: fr
  privacy: {redact: [card, iban], ip: anonymise}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook", privacy: {include: [message, page], redact: [email, phone]}}
  mail: {type: email, to: [support@votresite.com], smtp: "smtp://127.0.0.1:9"}
digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [hook]
"""
START = datetime(2026, 3, 11, tzinfo=UTC)


def report(locale: str) -> Report:
    config = parse_config(CONFIG.replace("locale: fr", f"locale: {locale}"), "channels.yaml")
    stats = DigestStats(start=START, end=START + timedelta(days=1), totals=Totals(3, 9, 2, 1, 1), previous=None,
                        hourly=[1] * 24, questions=[], support=[], support_total=0, health=Health())
    period = Period(START, START + timedelta(days=1), START + timedelta(days=1, hours=8), START - timedelta(days=1))
    return build_report(Renderer(), config, config.digests[0], period, stats)


def test_every_form_of_the_digest_states_the_policy() -> None:
    r = report("fr")
    assert "Masqué partout : cartes bancaires, IBAN." in r.text
    assert "Adresses IP stockées tronquées." in r.text
    assert "hook voit : message, page ; masque dans le texte : emails, téléphones" in r.text
    assert "mail voit : tout ce que l'utilisateur a accepté de partager" in r.text
    assert "effacement sur demande (notifier privacy erase)" in r.text
    # A short footer, after the figures, before the signature.
    assert r.text.index("Masqué partout") < r.text.index("Heures en Europe/Paris")
    assert r.html is not None and "hook voit : message, page" in r.html
    assert "hook voit : message, page" in r.blocks[-1]["elements"][0]["text"]
    assert r.card is not None and "Masqué partout" in r.card["body"][-1]["text"]
    assert any(line.startswith("mail voit") for line in r.data["privacy"])


@pytest.mark.parametrize("locale", ["en"])
def test_in_the_digest_language(locale: str) -> None:
    r = report(locale)
    assert "hook sees: message, page; hides in text: emails, phone numbers" in r.text
    assert "Hidden everywhere: card numbers, IBANs." in r.text
