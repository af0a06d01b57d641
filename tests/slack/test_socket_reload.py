"""Socket Mode follows a configuration reload: a token the reload adds connects (even when the
service started with none), a token it replaces is closed at Slack's end, an unchanged one keeps
its connection, and clicks go to the channels of the configuration now in use."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from notifier.store.cases import CaseStore
from tests.channels.fakes import FakeSlack
from tests.slack.live import Live, live_api, until
from tests.slack.socket_fake import FakeSocketMode

NEW_TOKEN = "xapp-1-A000-regenerated"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def socket() -> AsyncIterator[FakeSocketMode]:
    fake = await FakeSocketMode().start()
    try:
        yield fake
    finally:
        await fake.stop()


def config(slack: FakeSlack, team: str, more: str = "") -> str:
    """A channels.yaml whose handoffs go to ``team-slack``, configured with ``team``."""
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
channels:
  team-slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}",
               locale: en, rate: 200{team}}}
{more}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [team-slack]
"""


def socket_mode(app_token: str) -> str:
    return f', socket_mode: true, app_token: "{app_token}"'


async def reload(live: Live, tmp_path: Path, text: str) -> None:
    (tmp_path / "channels.yaml").write_text(text, encoding="utf-8")
    assert await live.service.reload() == []


async def alert(live: Live, slack: FakeSlack) -> tuple[str, str]:
    """A support request's case id and the ts of its Slack alert."""
    case_id = await live.request()
    await until(lambda: len(slack.messages) == 1, what="the alert")
    return case_id, str(slack.messages[0]["ts"])


async def actions(live: Live, case_id: str) -> list[tuple[str, str, str]]:
    history = await CaseStore(live.service.store.connector()).history(case_id)
    return [(a["action"], a["via"], a["outcome"]) for a in history["actions"]]


async def test_a_reload_that_adds_socket_mode_starts_it(tmp_path: Path, slack: FakeSlack,
                                                         socket: FakeSocketMode) -> None:
    slack.socket_url = socket.url

    async with live_api(tmp_path, config(slack, "")) as live:
        assert live.service.sockets is None  # nothing asked for Socket Mode at start
        await reload(live, tmp_path, config(slack, socket_mode(slack.app_token)))
        await socket.connected()
        case_id, ts = await alert(live, slack)
        envelope = await socket.send_interactive(slack.click_payload(ts, "case_claim", user="U0ANA", name="ana"))
        await socket.acknowledged(envelope)
        await until(lambda: len(slack.updates) == 1, what="the update")
        assert "Claimed by <@U0ANA>" in str(slack.message(ts)["blocks"])
        assert await actions(live, case_id) == [("claim", "slack:U0ANA", "done")]


async def test_a_new_app_token_replaces_the_old_connection(tmp_path: Path, slack: FakeSlack,
                                                           socket: FakeSocketMode) -> None:
    slack.socket_url = socket.url_for("old")
    slack.more_socket_urls[NEW_TOKEN] = socket.url_for("new")

    async with live_api(tmp_path, config(slack, socket_mode(slack.app_token))) as live:
        await until(lambda: socket.still_open("old"), what="the first connection")
        await reload(live, tmp_path, config(slack, socket_mode(NEW_TOKEN)))
        await until(lambda: socket.still_open("new") and not socket.still_open("old"),
                    what="the new token's connection to replace the old one")
        assert socket.opened == ["old", "new"]
        # Clicks arrive over the new connection.
        case_id, ts = await alert(live, slack)
        envelope = await socket.send_interactive(slack.click_payload(ts, "case_claim", user="U0ANA"), "new")
        await socket.acknowledged(envelope)
        await until(lambda: len(slack.updates) == 1, what="the update")
        assert await actions(live, case_id) == [("claim", "slack:U0ANA", "done")]


async def test_an_unchanged_token_keeps_its_connection_and_follows_the_new_rules(
        tmp_path: Path, slack: FakeSlack, socket: FakeSocketMode) -> None:
    slack.socket_url = socket.url_for("kept")
    slack.more_socket_urls[NEW_TOKEN] = socket.url_for("night")

    async with live_api(tmp_path, config(slack, socket_mode(slack.app_token))) as live:
        await until(lambda: socket.still_open("kept"), what="the first connection")
        # The reload restricts who may act on team-slack, and adds a second app's channel.
        night = (f'  night-slack: {{type: slack, token: "{slack.token}", channel: "#support", '
                 f'base_url: "{slack.api_url}"{socket_mode(NEW_TOKEN)}}}')
        await reload(live, tmp_path, config(slack, socket_mode(slack.app_token) + ", allow: [U0LEAD]", night))
        await until(lambda: socket.still_open("night"), what="the added token's connection")
        case_id, ts = await alert(live, slack)
        envelope = await socket.send_interactive(slack.click_payload(ts, "case_claim", user="U0EVE"), "kept")
        await socket.acknowledged(envelope)
        [told] = await asyncio.to_thread(slack.wait_for_ephemerals, 1)
        assert told["user"] == "U0EVE" and "not allowed" in told["text"]
        assert await actions(live, case_id) == []
        # The same connection all along: the reload did not reconnect it.
        assert socket.opened.count("kept") == 1 and socket.still_open("kept")


@pytest.mark.slow
async def test_a_worker_started_without_slack_connects_when_a_sighup_adds_socket_mode(
        tmp_path: Path, slack: FakeSlack, socket: FakeSocketMode) -> None:
    # A worker whose channels have no Slack does not load Slack's client at start
    # (tests/test_process_imports.py): in a real process, the reload must load it and connect.
    slack.socket_url = socket.url
    path = tmp_path / "channels.yaml"
    hook = '  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}\n'
    path.write_text("version: 1\ndefaults: {timezone: UTC}\nchannels:\n" + hook
                    + "routes:\n  - name: handoff\n    match: {kinds: [support_request]}\n    to: [hook]\n",
                    encoding="utf-8")
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "notifier.cli", "worker", "--config", str(path),
            "--db", f"sqlite:///{tmp_path / 'n.db'}", "--log-level", "info", env=env, stdout=out, stderr=out)
    try:
        await until(lambda: "worker started" in log.read_text() or proc.returncode is not None, 60,
                    "the worker to start")
        assert proc.returncode is None, log.read_text()
        path.write_text(config(slack, socket_mode(slack.app_token)), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        try:
            await socket.connected(timeout=30)
        except TimeoutError:
            raise AssertionError(f"no Socket Mode connection after the reload:\n{log.read_text()[-3000:]}") from None
        assert socket.opened == ["test-ticket"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, log.read_text()
