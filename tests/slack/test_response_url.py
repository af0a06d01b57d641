"""A click's ``response_url`` is only followed back to Slack.

Slack sends it as ``https://hooks.slack.com/actions/…``
(https://docs.slack.dev/interactivity/handling-user-interaction#message_responses). Whoever
holds a signing secret can sign any payload, with any ``response_url``: notifier must not
then post to an address of their choosing (a service of the private network, a cloud
metadata endpoint). The secret may be one a reload keeps only for a removed channel's
buttons. Such a click is answered through ``chat.postEphemeral`` when a channel is left to
do it, else not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.channels.slack_config import answers_to_slack
from notifier.slack_interactions import interactions_for
from tests.channels.fakes import FakeSlack
from tests.sink import Sink
from tests.slack.live import live_api, until
from tests.slack.test_removed_channel import OLD_APP_SECRET, actions, config, recorded


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels={"#support": "C0SUPPORT", "#vip": "C0VIP"}) as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize(("url", "base", "followed"), [
    ("https://hooks.slack.com/actions/T0/1/abc", "https://slack.com/api/", True),
    ("https://hooks.slack-gov.com/actions/T0/1/abc", "https://slack-gov.com/api/", True),
    ("http://127.0.0.1:8081/actions/T0/1/abc", "http://127.0.0.1:8081/api/", True),  # the API's own host
    ("http://hooks.slack.com/actions/T0/1/abc", "https://slack.com/api/", False),  # not https
    ("https://hooks.slack.com:8443/actions", "https://slack.com/api/", False),
    ("https://hooks.slack.com.evil.example/actions", "https://slack.com/api/", False),
    ("https://evil.example/?hooks.slack.com", "https://slack.com/api/", False),
    ("http://169.254.169.254/latest/meta-data/", "https://slack.com/api/", False),
    ("http://127.0.0.1:8082/actions", "http://127.0.0.1:8081/api/", False),  # another port
    ("https://hooks.slack.com:x/actions", "https://slack.com/api/", False),
])
def test_only_slacks_own_hooks_are_followed(url: str, base: str, followed: bool) -> None:
    assert answers_to_slack(url, base) is followed


@pytest.mark.parametrize("secret", ["shared with a configured channel", "its own"])
async def test_a_signed_click_pointing_elsewhere_gets_no_post_there(tmp_path: Path, slack: FakeSlack, secret: str,
                                                                    db_url: str) -> None:
    vip_secret = OLD_APP_SECRET if secret == "its own" else None
    with Sink() as elsewhere:
        async with live_api(tmp_path, config(slack, vip_secret=vip_secret), db_url) as live:
            case_id = await live.request()
            await until(lambda: len(slack.messages) == 1, what="the alert in #vip")
            [alert] = slack.messages
            await recorded(live, case_id)
            (tmp_path / "channels.yaml").write_text(config(slack, vip_secret=vip_secret, vip=False), encoding="utf-8")
            assert await live.service.reload() == []

            click = slack.click_payload(alert["ts"], "case_claim", user="U0MARIE", name="marie")
            click["response_url"] = f"{elsewhere.url}/actions/T000/1/forged"
            answer = await live.click(*slack.signed(click, secret=vip_secret))
            assert answer.status_code == 200
            await interactions_for(live.service).drain()  # the click handled, its answer sent or not
            if secret == "shared with a configured channel":
                # A configured channel is left to tell the clicker, through Slack's API.
                [told] = await asyncio.to_thread(slack.wait_for_ephemerals, 1)
                assert told["user"] == "U0MARIE" and told["via"] == "chat.postEphemeral"
                assert "no longer configured" in told["text"]
            else:  # no channel left to answer with: nobody is told, rather than a stranger
                assert slack.ephemerals == []
            assert elsewhere.received == []
            assert await actions(live, case_id) == []
