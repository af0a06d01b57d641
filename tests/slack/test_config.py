"""The interactivity settings of a Slack channel are checked when channels.yaml loads, naming the line."""

from __future__ import annotations

import pytest

from notifier.config import parse_config
from notifier.config.errors import ConfigError


def load(channel: str) -> str:
    text = f"version: 1\nchannels:\n  team: {channel}\nroutes: []\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "channels.yaml")
    return str(caught.value)


@pytest.mark.parametrize(("channel", "says"), [
    ('{type: slack, token: x, channel: "#a", signing_secret: s, allow: [marie]}', "not 'marie'"),
    ('{type: slack, token: x, channel: "#a", socket_mode: true}', "socket_mode needs app_token"),
    ('{type: slack, webhook_url: "https://hooks.slack.com/services/T/B/x", signing_secret: s}',
     "a webhook cannot update its messages"),
])
def test_wrong_interactivity_settings_are_named(channel: str, says: str) -> None:
    message = load(channel)
    assert "channels.yaml:3:3" in message and says in message


def test_buttons_need_a_way_in() -> None:
    from notifier.channels.slack_config import SlackChannel

    plain = SlackChannel(type="slack", token="x", channel="#a")
    assert not plain.interactive  # no signing secret, no socket: no buttons that would do nothing
    assert SlackChannel(type="slack", token="x", channel="#a", signing_secret="s").interactive
    assert SlackChannel(type="slack", token="x", channel="#a", socket_mode=True, app_token="xapp-1").interactive
