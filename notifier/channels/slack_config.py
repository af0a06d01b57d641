"""``type: slack`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.slack`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from notifier.config.common import ChannelSettings

__all__ = ["SlackChannel", "answers_to_slack", "socket_mode_channels"]

_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


class SlackChannel(ChannelSettings):
    """Slack via a bot token (chat.postMessage) or an incoming webhook."""

    type: Literal["slack"]
    token: str | None = None
    channel: str | None = None
    webhook_url: str | None = None
    base_url: str = "https://slack.com/api/"
    rate: float = Field(1.0, gt=0, description="Messages per second per Slack channel.")
    signing_secret: str | None = Field(None, description=(
        "The Slack app's signing secret: alerts carry claim/resolve buttons, and clicks arrive at "
        "POST /v1/slack/interactions (the app's interactivity Request URL), verified with it."))
    socket_mode: bool = Field(False, description=(
        "Receive button clicks over Socket Mode (no public URL needed); needs app_token."))
    app_token: str | None = Field(None, description=(
        "App-level token (xapp-…, scope connections:write) for Socket Mode."))
    allow: list[str] = Field(default_factory=list, description=(
        "Slack user ids (U…/W…) and user group ids (S…) who may claim and resolve from Slack; empty: everyone."))

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if not self.webhook_url and not (self.token and self.channel):
            raise ValueError("a slack channel needs either token and channel, or webhook_url")
        if (self.signing_secret or self.socket_mode) and not self.token:
            raise ValueError("buttons need the bot token (token and channel): a webhook cannot update its messages")
        if self.socket_mode and not self.app_token:
            raise ValueError("socket_mode needs app_token (an app-level token, xapp-…)")
        wrong = [a for a in self.allow if not _SLACK_ID.match(a)]
        if wrong:
            raise ValueError(f"allow takes Slack user ids (U…, W…) and user group ids (S…), not {wrong[0]!r}: "
                             "copy a member's id from their profile (⋮ → Copy member ID)")
        return self

    @property
    def interactive(self) -> bool:
        """Whether clicks reach notifier (Request URL or Socket Mode): alerts then carry buttons."""
        return bool(self.token and (self.signing_secret or self.socket_mode))


def socket_mode_channels(channels: Iterable[object]) -> dict[str, SlackChannel]:
    """The Slack channels among ``channels`` that receive their clicks over Socket Mode, one per
    app-level token (the first that names it), by token.

    Here, beside the settings, so that a process can tell whether it needs Slack's Socket Mode
    client before it loads it (with aiohttp and the API's app, some 50 MB per process).
    """
    out: dict[str, SlackChannel] = {}
    for ch in channels:
        if isinstance(ch, SlackChannel) and ch.socket_mode and ch.app_token and ch.app_token not in out:
            out[ch.app_token] = ch
    return out


def answers_to_slack(response_url: str, base_url: str) -> bool:
    """Whether a click's ``response_url`` leads back to the Slack a channel talks to at
    ``base_url``: Slack's hooks host beside its API (``https://hooks.slack.com/actions/…``
    for ``https://slack.com/api/``,
    https://docs.slack.dev/interactivity/handling-user-interaction#message_responses), or the
    API's own scheme and host (a proxy, a test server).

    Anything else was written by whoever holds the signing secret, and notifier does not post
    where they point: an old secret a reload keeps for a removed channel's buttons, or a leaked
    one, must not make notifier a messenger to any address it can reach.

        >>> answers_to_slack("https://hooks.slack.com/actions/T0/1/abc", "https://slack.com/api/")
        True
        >>> answers_to_slack("http://169.254.169.254/latest/meta-data", "https://slack.com/api/")
        False
    """
    url, api = urlsplit(response_url), urlsplit(base_url)
    try:
        port, api_port = url.port, api.port
    except ValueError:  # a port that is not a number
        return False
    if (url.scheme, url.hostname, port) == (api.scheme, api.hostname, api_port):
        return True
    return url.scheme == "https" and port in (None, 443) and url.hostname == f"hooks.{api.hostname}"
