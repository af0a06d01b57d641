"""Slack: was this delivery posted already? Asked before posting again after an unclear failure.

``chat.postMessage`` takes no idempotency key. When it answers ``fatal_error`` ("the server
could not complete your operation(s) without encountering a catastrophic error. It's
possible some aspect of the operation succeeded", https://docs.slack.dev/reference/methods/chat.postMessage)
or the answer is lost (read timeout, connection dropped after the request went out), the
message may well be in the channel. Each message therefore carries Slack message
``metadata`` naming its delivery (https://docs.slack.dev/messaging/message-metadata); the
next attempt reads the channel's history (``conversations.history``, or
``conversations.replies`` inside a thread, with ``include_all_metadata``) from just before
the first attempt, and only posts when no message of this delivery is there.

Reading history needs the ``channels:history`` scope (``groups:history`` for a private
channel); without it the check cannot run and the message is posted again, as before.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["METADATA_TYPE", "channel_id", "find_posted", "metadata"]

#: The ``event_type`` of our message metadata.
METADATA_TYPE = "notifier_delivery"
_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def metadata(delivery_id: str) -> dict[str, Any]:
    """The metadata that names a message's delivery."""
    return {"event_type": METADATA_TYPE, "event_payload": {"delivery_id": delivery_id}}


async def channel_id(api: AsyncWebClient, channel: str, known: dict[str, str]) -> str | None:
    """The id of ``channel`` (``#support`` or ``C0123…``): history calls take ids only.

    ``known`` caches ids seen in ``chat.postMessage`` answers; otherwise the bot's
    conversations are listed (at most ten pages).
    """
    if _ID.match(channel):
        return channel
    if channel in known:
        return known[channel]
    name = channel.lstrip("#")
    cursor = None
    for _ in range(10):
        try:
            page = await api.conversations_list(types="public_channel,private_channel", limit=200,
                                                exclude_archived=True, cursor=cursor)
        except SlackApiError:
            return None
        for conversation in page.get("channels") or []:
            if conversation.get("name") == name:
                known[channel] = str(conversation["id"])
                return known[channel]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return None


async def find_posted(api: AsyncWebClient, channel: str, delivery_id: str, *, oldest: str,
                      thread_ts: str | None) -> str | None:
    """The ``ts`` of the message of ``delivery_id`` posted since ``oldest``, if any."""
    options: dict[str, Any] = {"channel": channel, "oldest": oldest, "include_all_metadata": True, "limit": 200}
    if thread_ts:
        response = await api.conversations_replies(ts=thread_ts, **options)
    else:
        response = await api.conversations_history(**options)
    for message in response.get("messages") or []:
        data = message.get("metadata") or {}
        if data.get("event_type") == METADATA_TYPE and (data.get("event_payload") or {}).get(
                "delivery_id") == delivery_id:
            return str(message.get("ts"))
    return None
