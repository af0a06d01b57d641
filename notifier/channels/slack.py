"""``type: slack``: a Block Kit message through the Web API (``chat.postMessage``) or a webhook.

With ``token`` and ``channel`` the bot posts with ``chat.postMessage``; follow-ups of a
conversation go in the thread of its first message (``thread_ts``). With ``webhook_url``
it posts to an incoming webhook (no threads: webhooks do not say what they created).

The message itself is built in :mod:`notifier.channels.slack_blocks` (Slack's limits are
respected by cutting, never by being rejected). Sends to one Slack channel are paced at
``rate`` messages per second (Slack allows about one), the first one at once.

Requests go through slack-sdk (``AsyncWebClient``, ``AsyncWebhookClient``) over one pooled
aiohttp session per channel, with the SDK's own retries turned off: the stored retry policy
decides. Errors, translated at the boundary with the shared HTTP policy::

    HTTP 429 / ok:false ratelimited            -> retry, after Retry-After
    HTTP 408, 5xx, internal_error, ...         -> retry
    connection refused or reset, timeout       -> retry
    other 4xx, invalid_auth, not_in_channel... -> permanent, with what to do in plain words
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from slack_sdk.webhook.webhook_response import WebhookResponse

from notifier.channels import slack_posted
from notifier.channels.base import ChannelContext, Outbound, Report, SendResult, permanent, retryable, sent
from notifier.channels.http import (
    classify_exception,
    classify_status,
    parse_retry_after,
    redact,
    status_reason,
    url_secrets,
)
from notifier.channels.slack_blocks import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_SECTION,
    MAX_TOTAL_TEXT,
    message_blocks,
    report_blocks,
    text_size,
)
from notifier.channels.slack_case import reply_text
from notifier.channels.slack_config import SlackChannel, answers_to_slack
from notifier.core.cases import same_agent
from notifier.core.follow_up import FollowUp
from notifier.core.masking import error_line

__all__ = ["MAX_BLOCKS", "MAX_HEADER", "MAX_SECTION", "MAX_TOTAL_TEXT", "Pace", "Slack", "create", "follows_up",
           "message_blocks", "preview", "reply_privately", "text_size"]


#: ``ok: false`` codes worth another try; every other code is permanent.
_RETRYABLE = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout", "team_added_to_org"}
#: Failures after which the message may nonetheless be in the channel.
_MAYBE_POSTED = {"fatal_error", "timeout", "answer_lost"}
_AUTH = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
         "no_permission", "org_login_required", "ekm_access_denied"}
_REFUSED_MESSAGE = {"msg_too_long", "msg_blocks_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
                    "too_many_attachments", "invalid_arguments", "invalid_post_type", "invalid_payload"}

log = structlog.get_logger("notifier.channels.slack")

# The SDK logs webhook URLs and message bodies at debug level: keep those lines out of any log.
_SDK_LOG = logging.getLogger("notifier.channels.slack.sdk")
_SDK_LOG.setLevel(logging.WARNING)


class Pace:
    """At most ``rate`` sends per second, the first one at once; shared by concurrent senders."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    async def wait(self) -> None:
        """Wait for this send's slot (slots are handed out in call order)."""
        now = self._clock()
        at = max(now, self._next)
        self._next = at + self.interval
        if at > now:
            await self._sleep(at - now)

    def hold(self, seconds: float) -> None:
        """Slack said "slow down": no slot before ``seconds`` from now."""
        self._next = max(self._next, self._clock() + seconds)


def _explain(code: str, where: str, data: dict[str, Any]) -> tuple[str, str]:
    """A failure reason in plain words, and its metrics label, for an ``ok: false`` code."""
    if code == "not_in_channel":
        return f"the bot is not in {where}: invite it with /invite @your-bot ({code})", "not_in_channel"
    if code == "channel_not_found":
        return (f"Slack has no channel {where} that the bot can see: check the name, or invite the bot "
                f"if the channel is private ({code})", "not_found")
    if code == "is_archived":
        return f"{where} is archived: unarchive it or choose another channel ({code})", "archived"
    if code in _AUTH:
        return f"Slack refused the bot token ({code}): check the channel's token", "auth"
    if code == "missing_scope":
        return (f"the bot token lacks the scope {data.get('needed') or 'chat:write'}: add it in the app's "
                f"OAuth settings and reinstall ({code})"), "auth"
    if code == "restricted_action":
        return f"the workspace does not let the bot post in {where} ({code})", "forbidden"
    if code in _REFUSED_MESSAGE:
        details = "; ".join(str(e) for e in (data.get("errors") or [])[:3])
        return f"Slack refused the message ({code}){': ' + details if details else ''}", "invalid"
    if code == "fatal_error":
        return f"Slack failed while handling the message; it may have been posted ({code})", "fatal_error"
    if code in _RETRYABLE:
        return f"Slack is unavailable or busy ({code})", "rate_limited" if "rate" in code else "server_error"
    return f"Slack answered {code}", "slack_error"


class Slack:
    """Posts Block Kit messages to one Slack channel (or one incoming webhook)."""

    type = "slack"

    def __init__(self, name: str, config: SlackChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        self.pace = Pace(config.rate)
        # A webhook URL's path is its password: never echo it, whole or in part.
        self._secrets = [config.token, config.app_token, config.signing_secret, *url_secrets(config.webhook_url)]
        self._where = config.channel or "the webhook's channel"
        self._timeout = config.timeout.total_seconds()
        # retry_handlers=[]: one attempt per send, the stored retry policy owns retries.
        # timeout: only used by the SDK for a session of its own; ours carries the exact one.
        options: dict[str, Any] = {"timeout": max(1, math.ceil(self._timeout)), "retry_handlers": [],
                                   "logger": _SDK_LOG, "user_agent_prefix": "notifier"}
        self._api: AsyncWebClient | None = None
        self._hook: AsyncWebhookClient | None = None
        if config.webhook_url:
            self._hook = AsyncWebhookClient(config.webhook_url, **options)
            self._hook.proxy = None  # proxies come from our session, which honours NO_PROXY
        else:
            self._api = AsyncWebClient(token=config.token, base_url=_without_userinfo(config.base_url), **options)
            self._api.proxy = None
        self._session: aiohttp.ClientSession | None = None
        self._channel_ids: dict[str, str] = {}

    def _open(self) -> None:
        """Give the SDK client a pooled session (opened inside the event loop, on first use)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self.config.concurrency),
                trust_env=True,  # HTTPS_PROXY / NO_PROXY from the environment
            )
        for client in (self._api, self._hook):
            if client is not None:
                client.session = self._session

    @property
    def shows_case(self) -> bool:
        """Alerts show their case's state (and buttons): only a bot can update what it posted."""
        return self._api is not None

    def body(self, message: Outbound, *, via: str | None = None) -> dict[str, Any]:
        """The JSON document posted for ``message``."""
        blocks, text = message_blocks(message, self.ctx, self.locale, buttons=self.config.interactive, via=via)
        body: dict[str, Any] = {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
        if not self.config.webhook_url:
            body = {"channel": self.config.channel, **body, "metadata": slack_posted.metadata(message.delivery_id)}
            if message.thread_ref:
                body["thread_ts"] = message.thread_ref
        return body

    async def send(self, message: Outbound) -> SendResult:
        if self._api is not None and message.progress.get("maybe_posted"):
            ts = await self._posted_before(message)
            if ts:
                return sent(ts, thread_ref=message.thread_ref or ts,
                            reason="posted by an earlier attempt (found in the channel's history)")
        oldest = f"{time.time() - 60:.6f}"
        result = await self._post(self.body(message))
        if result.ok and result.ref and not self.config.webhook_url:
            # Follow-ups stay under the conversation's first message.
            return sent(result.ref, thread_ref=message.thread_ref or result.ref)
        if result.status == "retry" and result.label in _MAYBE_POSTED and self._api is not None:
            # The message may be in the channel: the next attempt looks before posting again.
            progress = {"maybe_posted": True, "oldest": message.progress.get("oldest") or oldest}
            return retryable(result.reason, retry_after=result.retry_after, label=result.label, progress=progress)
        return result

    async def _posted_before(self, message: Outbound) -> str | None:
        """The ts of this delivery's message if an earlier, unclear attempt did post it."""
        assert self._api is not None
        self._open()
        try:
            channel = await slack_posted.channel_id(self._api, self.config.channel or "", self._channel_ids)
            if channel is None:
                return None
            return await slack_posted.find_posted(self._api, channel, message.delivery_id,
                                                  oldest=str(message.progress.get("oldest") or "0"),
                                                  thread_ts=message.thread_ref)
        except Exception:  # history unreadable (scope, outage): post again rather than lose it
            return None

    async def send_report(self, report: Report) -> SendResult:
        blocks, text = report_blocks(report)
        body: dict[str, Any] = {"text": text, "blocks": blocks}
        if not self.config.webhook_url:
            body["channel"] = self.config.channel
        return await self._post(body)

    async def follow_up(self, follow_up: FollowUp) -> SendResult:
        """Update the case's messages in place (``chat.update``), then say what happened in the thread.

        Each message is rendered again from its request with the case as it stands now and
        the buttons that fit it; the reply ("✋ Pris en charge par @marie à 14:05") goes under
        the conversation's first message. A retry after an unclear reply looks for it first.
        """
        assert self._api is not None, "follows_up() keeps webhooks out"
        self._open()
        where = self.config.channel or ""
        try:
            channel = await slack_posted.channel_id(self._api, where, self._channel_ids)
        except Exception as exc:
            return self._transport_error(exc)
        if channel is None:
            return permanent(f"Slack has no channel {where} that the bot can see, so its messages cannot be "
                             "updated (the channels:read scope lists it by name; or give the channel id)",
                             label="not_found")
        holder_via = follow_up.via if same_agent(follow_up.case.holder, follow_up.actor) else None
        for target in follow_up.targets:
            if not target.ref:
                continue
            body = self.body(target.message, via=holder_via)
            update = {"channel": channel, "ts": target.ref, "text": body["text"], "blocks": body["blocks"]}
            result = await self._post(update, method="chat_update")
            if not result.ok:
                return result
        replied = follow_up.progress.get("replied")
        if replied:
            return sent(str(replied), reason="updated; the thread reply was posted by an earlier attempt")
        first = follow_up.targets[0]
        thread = first.thread_ref or first.ref
        if follow_up.progress.get("maybe_posted") and thread:
            try:
                ts = await slack_posted.find_posted(self._api, channel, follow_up.delivery_id,
                                                    oldest=str(follow_up.progress.get("oldest") or "0"),
                                                    thread_ts=thread)
            except Exception:  # history unreadable: reply again rather than not at all
                ts = None
            if ts:
                return sent(ts, reason="the thread reply was posted by an earlier attempt")
        text = reply_text(follow_up.action, follow_up.actor, follow_up.via, follow_up.at, follow_up.note,
                          self.locale, self.ctx.defaults.timezone)
        oldest = f"{time.time() - 60:.6f}"
        result = await self._post({"channel": channel, "thread_ts": thread, "text": text,
                                   "metadata": slack_posted.metadata(follow_up.delivery_id)})
        if result.status == "retry" and result.label in _MAYBE_POSTED:
            progress = {"maybe_posted": True, "oldest": follow_up.progress.get("oldest") or oldest}
            return retryable(result.reason, retry_after=result.retry_after, label=result.label, progress=progress)
        return result

    async def tell(self, user: str, text: str, *, response_url: str | None, channel: str | None) -> bool:
        """Show ``text`` to ``user`` alone (an ephemeral message); ``False`` if Slack refused it.

        Through the click's ``response_url`` when there is one (no scope needed), else
        ``chat.postEphemeral`` (https://docs.slack.dev/reference/methods/chat.postEphemeral).
        """
        self._open()
        if response_url and not answers_to_slack(response_url, self.config.base_url):
            log.warning("a click's response_url is not Slack's: answered with chat.postEphemeral instead",
                        channel=self.name)
            response_url = None
        try:
            if response_url:
                return await reply_privately(response_url, text, session=self._session)
            assert self._api is not None
            where = channel or await slack_posted.channel_id(self._api, self.config.channel or "", self._channel_ids)
            await self._api.chat_postEphemeral(channel=where or "", user=user, text=text)
            return True
        except Exception as exc:  # telling is best effort: the action itself is recorded either way
            log.warning("could not tell the Slack user",
                        reason=redact(f"{type(exc).__name__}: {error_line(exc)}", self._secrets))
            return False

    async def members(self, group: str) -> set[str]:
        """The users of a Slack user group (``usergroups.users.list``, scope ``usergroups:read``)."""
        assert self._api is not None
        self._open()
        answer = await self._api.usergroups_users_list(usergroup=group)
        return {str(u) for u in answer.get("users") or []}

    async def _post(self, body: dict[str, Any], *, method: str = "chat_postMessage") -> SendResult:
        if method == "chat_postMessage":  # the 1/s pace is chat.postMessage's; updates have a tier of their own
            await self.pace.wait()
        self._open()
        try:
            if self._hook is not None:
                return self._webhook_result(await self._hook.send_dict(body))
            assert self._api is not None
            response = await getattr(self._api, method)(**body)
        except SlackApiError as exc:
            return self._api_error(exc.response)
        except Exception as exc:
            if _misread_text_answer(exc):
                return retryable("Slack answered with a body that is not JSON", label="server_error")
            return self._transport_error(exc)
        ts = response.get("ts")
        if response.get("channel") and self.config.channel:
            self._channel_ids[self.config.channel] = str(response["channel"])
        return sent(str(ts) if ts else None)

    def _transport_error(self, exc: Exception) -> SendResult:
        """aiohttp's and asyncio's errors, in the shared policy's terms."""
        # TimeoutError first: it is an OSError too (aiohttp's timeouts derive from it).
        if isinstance(exc, asyncio.TimeoutError):
            return retryable(redact(f"timeout: {exc!r}", self._secrets), label="timeout")
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            # The request went out; the answer was lost: Slack may have posted it.
            return retryable(redact(f"connection lost before Slack answered: {exc!r}", self._secrets),
                             label="answer_lost")
        if isinstance(exc, aiohttp.ClientError | OSError) and not isinstance(exc, aiohttp.InvalidURL):
            return retryable(redact(f"connection error: {exc!r}", self._secrets), label="connection")
        return classify_exception(exc, secrets=self._secrets)

    def _api_error(self, response: Any) -> SendResult:
        """A Web API answer the SDK refused: an HTTP error status, or ``ok: false``."""
        # Usually the SDK's response; the bare aiohttp response when the body was not JSON.
        status_code = getattr(response, "status_code", None)
        status = int(status_code if status_code is not None else getattr(response, "status", 0))
        headers = getattr(response, "headers", None) or {}
        data = getattr(response, "data", None)
        retry_after = parse_retry_after(headers.get("retry-after"))
        if status == 429:
            self.pace.hold(retry_after or 1.0)
        if status != 200:
            return classify_status(status, status_reason(status, _body_text(data), secrets=self._secrets),
                                   retry_after)
        if not isinstance(data, dict) or not data:
            return retryable("Slack answered with a body that is not JSON", label="server_error")
        code = str(data.get("error") or "unknown_error")
        reason, label = _explain(code, self._where, data)
        reason = redact(reason, self._secrets)
        if code in _RETRYABLE:
            if retry_after:
                self.pace.hold(retry_after)
            return retryable(reason, retry_after=retry_after, label=label)
        return permanent(reason, label=label)

    def _webhook_result(self, response: WebhookResponse) -> SendResult:
        status = response.status_code
        retry_after = parse_retry_after((response.headers or {}).get("retry-after"))
        if status == 429:
            self.pace.hold(retry_after or 1.0)
        if 200 <= status < 300:
            return sent()
        code = (response.body or "").strip()
        detail = None
        if code and " " not in code and len(code) < 60:
            # Webhooks answer a bare error code in text: the same codes as the Web API.
            if code in ("invalid_token", "no_service", "no_active_hooks"):
                detail = f"Slack no longer accepts this webhook URL ({code}): create a new one"
            else:
                detail = _explain("is_archived" if code == "channel_is_archived" else code,
                                  self._where, {})[0]
        reason = status_reason(status, response.body or "", secrets=self._secrets, detail=detail)
        return classify_status(status, reason, retry_after)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _misread_text_answer(exc: Exception) -> bool:
    """The SDK's check of an HTTP 200 answer sent as ``text/plain`` (say, by a proxy) fails
    with an AttributeError inside ``validate``: an answer that is not JSON, not a bug of ours."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return isinstance(exc, AttributeError) and tb is not None and tb.tb_frame.f_code.co_name == "validate"


async def reply_privately(response_url: str, text: str, *, session: aiohttp.ClientSession | None = None) -> bool:
    """Show ``text`` to the clicker alone through a click's ``response_url`` (no token needed:
    https://docs.slack.dev/interactivity/handling-user-interaction#message_responses); whether
    Slack took it. Raises what the request raised: telling is the caller's best effort."""
    hook = AsyncWebhookClient(response_url, session=session, logger=_SDK_LOG, retry_handlers=[])
    hook.proxy = None  # no proxy from the environment, as the channels' own client
    answer = await hook.send_dict({"response_type": "ephemeral", "replace_original": False, "text": text})
    return 200 <= answer.status_code < 300


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: the Web API's credential is the bot token, and
    aiohttp refuses URL credentials beside an ``Authorization`` header."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _body_text(data: Any) -> str:
    """An error answer's body as text, for its excerpt."""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    if isinstance(data, str):
        return data
    return json.dumps(data, ensure_ascii=False) if data else ""


def follows_up(config: SlackChannel) -> bool:
    """Whether a Slack channel so configured takes follow-ups: a bot can edit what it posted, a webhook cannot."""
    return bool(config.token and config.channel and not config.webhook_url)


def create(name: str, config: SlackChannel, ctx: ChannelContext) -> Slack:
    """The Slack adapter for one configured channel."""
    return Slack(name, config, ctx)


def preview(channel: Slack, message: Outbound) -> str:
    """The request the channel would send (the token is never shown)."""
    target = "incoming webhook" if channel.config.webhook_url else "chat.postMessage"
    return f"POST {target}\n\n{json.dumps(channel.body(message), indent=2, ensure_ascii=False)}"
