"""The digest goes out once per period: several processes, restarts, outages, failures."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.channels import ChannelContext, build_channel
from notifier.config.models import Config
from notifier.digest import DigestScheduler
from notifier.render import Renderer
from notifier.store import Store, store_for
from tests.channels.fakes import block_kit_errors
from tests.digest.conftest import Recorder, add, failing, make_config
from tests.digest.fixture_day import day_events

PARIS = ZoneInfo("Europe/Paris")
MORNING = datetime(2026, 3, 12, 8, 0, 5, tzinfo=PARIS)


def scheduler(config: Config, store: Store, *channels: Recorder, worker: str = "w1") -> DigestScheduler:
    return DigestScheduler(config, store, {c.name: c for c in channels}, Renderer(), worker, retry_delays=(0.0, 0.0))


async def test_several_processes_and_a_restart_send_it_once(store: Store, tmp_path: Path) -> None:
    config = make_config()
    await add(store, config, day_events(date(2026, 3, 11), "Europe/Paris"))
    # Three processes sharing the database, each with its own connection.
    others = [store_for(store.url) for _ in range(2)]
    for s in others:
        await s.open()
    channels = [Recorder() for _ in range(3)]
    schedulers = [scheduler(config, s, c, worker=f"w{i}")
                  for i, (s, c) in enumerate(zip([store, *others], channels, strict=True))]
    await asyncio.gather(*(s.tick(MORNING) for s in schedulers))
    assert sum(len(c.reports) for c in channels) == 1
    # A restart an hour later: the period is claimed already.
    again = Recorder()
    assert await scheduler(config, store, again, worker="w9").tick(MORNING + timedelta(hours=1)) == []
    assert again.reports == []
    run = await store.last_digest("daily")
    assert run is not None and run.status == "sent" and run.period_start == datetime(2026, 3, 11, tzinfo=PARIS)
    for s in others:
        await s.close()


async def test_after_an_outage_only_the_latest_missed_digest_goes_out(store: Store) -> None:
    config = make_config()
    channel = Recorder()
    s = scheduler(config, store, channel)
    await s.tick(MORNING)
    results = await s.tick(MORNING + timedelta(days=4, hours=3))  # down for four days
    assert [r.period.start for r in results] == [datetime(2026, 3, 15, tzinfo=PARIS)]
    assert len(channel.reports) == 2
    assert await s.tick(MORNING + timedelta(days=4, hours=4)) == []


async def test_empty_day_sends_nothing_to_report_unless_skipped(store: Store) -> None:
    channel = Recorder()
    [result] = await scheduler(make_config(), store, channel).tick(MORNING)
    assert result.status == "sent"
    assert "Rien à signaler" in channel.reports[0].text and channel.reports[0].data["empty"] is True

    quiet = make_config("  - {name: quiet, to: [hook], skip_empty: true}\n")
    other = Recorder()
    results = await scheduler(quiet, store, other).tick(MORNING)
    assert [r.status for r in results] == ["skipped"] and other.reports == []


async def test_retryable_failure_is_tried_again_and_recorded(store: Store) -> None:
    config = make_config()
    flaky = Recorder("hook", *failing(1))
    [result] = await scheduler(config, store, flaky).tick(MORNING)
    assert result.status == "sent" and len(flaky.reports) == 2
    broken = Recorder("hook", *failing(5))
    [result] = await scheduler(config, store, broken).tick(MORNING + timedelta(days=1))
    assert result.status == "failed" and len(broken.reports) == 3
    run = await store.last_digest("daily")
    assert run is not None and run.status == "failed" and "503" in (run.detail or "")


async def test_scheduler_runs_until_stopped(store: Store) -> None:
    channel = Recorder()
    stop = asyncio.Event()
    s = scheduler(make_config(), store, channel)
    s.not_before = datetime(2020, 1, 1, tzinfo=UTC)  # an install older than the due period
    task = asyncio.create_task(s.run(stop))
    deadline = asyncio.get_running_loop().time() + 5
    while not channel.reports and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert len(channel.reports) == 1  # today's due period, sent at start
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_a_scheduler_on_a_fresh_database_waits_for_a_period_it_saw(store: Store) -> None:
    channel = Recorder()
    stop = asyncio.Event()
    s = scheduler(make_config(), store, channel)
    task = asyncio.create_task(s.run(stop))
    deadline = asyncio.get_running_loop().time() + 30
    while s.not_before is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert s.not_before == await store.installed_at()
    # The period due now ended before the database existed: nothing is sent for it.
    assert await s.tick(datetime.now(UTC)) == []
    stop.set()
    await asyncio.wait_for(task, 10)
    assert channel.reports == [] and await store.last_digest("daily") is None


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


async def test_email_digest_over_real_smtp_renders_without_images(store: Store) -> None:
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = make_config(text=f"""
version: 1
defaults: {{timezone: Europe/Paris, locale: fr, event_url: "https://notifier.example.com/v1/events/{{id}}"}}
channels:
  support-email:
    {{type: email, to: [support@votresite.com], smtp: "smtp://127.0.0.1:{port}", from: "Chatbot <bot@votresite.com>"}}
routes: []
digests:
  - {{name: daily, to: [support-email]}}
""")
    await add(store, config, day_events(date(2026, 3, 11), "Europe/Paris"))
    ctx = ChannelContext(defaults=config.defaults, renderer=Renderer(), event_url=config.defaults.event_url)
    channel = build_channel("support-email", config.channels["support-email"], ctx)
    try:
        s = DigestScheduler(config, store, {"support-email": channel}, Renderer(), "w1")
        [result] = await s.tick(MORNING)
    finally:
        server.close()
    assert result.status == "sent", result.detail
    [mail] = box.mails
    assert str(mail["Subject"]) == "Résumé AAIA : mercredi 11 mars 2026"
    parts: dict[str, Any] = {p.get_content_type(): p.get_payload(decode=True).decode()
                             for p in mail.walk() if not p.is_multipart()}
    assert "QUESTIONS LES PLUS COURANTES" in parts["text/plain"]
    html = parts["text/html"]
    assert "Heures de pointe" in html and "<img" not in html
    assert 'bgcolor="#d9480f"' in html  # the busiest hour's bar, a coloured table cell
    assert "https://notifier.example.com/v1/events/" in html


async def test_slack_blocks_and_teams_card_within_limits(store: Store) -> None:
    config = make_config("  - {name: english, to: [hook], locale: en, top_n: 50}\n")
    long = "Where is my order number {} " + "and why is it taking so long " * 8
    await add(store, config, [
        {"id": f"q{i}", "kind": "message", "role": "user", "site": "shop.example.com", "conversation_id": f"c{i}",
         "message": "<&> " + long.format(f"x{i}y" * (i % 7 + 1)),
         "occurred_at": datetime(2026, 3, 11, 10, tzinfo=PARIS).isoformat()} for i in range(60)])
    channel = Recorder()
    results = await scheduler(config, store, channel).tick(MORNING)
    assert [r.status for r in results] == ["sent", "sent"]
    english = next(r for r in channel.reports if r.title.startswith("AAIA digest"))
    assert english.blocks is not None
    assert block_kit_errors(english.blocks) == []
    assert "&lt;&amp;&gt;" in str(english.blocks)
    assert english.card is not None and english.card["type"] == "AdaptiveCard"
    assert any(b.get("fontType") == "Monospace" for b in english.card["body"])


async def test_a_brand_new_install_sends_no_digest_for_a_day_before_it_existed(store: Store) -> None:
    installed = await store.installed_at()
    assert installed is not None
    assert abs((installed - datetime.now(UTC)).total_seconds()) < 600, "a fresh database was made just now"
    config = make_config()
    channel = Recorder()
    s = scheduler(config, store, channel)
    s.not_before = MORNING.astimezone(UTC) - timedelta(hours=1)  # installed at 07:00 the morning of MORNING
    # The daily digest at 08:00 reports the day before: notifier did not exist then.
    assert await s.tick(MORNING) == []
    assert channel.reports == [] and await store.last_digest("daily") is None
    # The next morning reports the first day it ran, even if nothing happened.
    [result] = await s.tick(MORNING + timedelta(days=1))
    assert result.status == "sent" and len(channel.reports) == 1
