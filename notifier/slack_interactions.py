"""Slack buttons: a click on "Je m'en occupe" or "Résolu" claims or resolves the case.

Clicks arrive two ways and meet in :class:`Interactions`:

* the app's interactivity **Request URL**, ``POST /v1/slack/interactions``: a form-encoded
  ``payload`` (a ``block_actions`` payload,
  https://docs.slack.dev/reference/interaction-payloads/block_actions-payload), signed
  with the app's signing secret: ``X-Slack-Signature`` is ``v0=`` and the HMAC-SHA256 of
  ``v0:{X-Slack-Request-Timestamp}:{body}``, and the timestamp must be within five minutes
  (https://docs.slack.dev/authentication/verifying-requests-from-slack). Checked with
  slack-sdk's ``SignatureVerifier``; a signature seen once is refused the second time.
  A forged, replayed or stale request gets ``401`` and changes nothing.
* **Socket Mode** (:mod:`notifier.slack_socket`), for installs without a public URL.

Slack wants an answer within three seconds: the request is acknowledged first, then the
action runs (:func:`notifier.cases.act`, via ``slack:<user id>``), and its follow-up
updates the message in place through the worker like any other delivery. A refused click
(someone else holds the case, the user is not in the channel's ``allow`` list, the case
is gone) gets an ephemeral answer that only the clicker sees.

A click on an alert of a channel a reload removed from ``channels.yaml`` acts on nothing:
acting would change the case unseen (no channel left to update the alert) under rules that
are no longer written anywhere. The clicker is told the channel is gone and how to act
instead. Which channel posted the alert is read from the store (the delivery whose ref is
the clicked message's ``ts``), since alerts posted earlier carry nothing else that names
it. The signing secrets of removed channels are remembered until the process stops, so
their clicks are still recognised as Slack's (after a restart they get ``401``).
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_sdk.signature import Clock, SignatureVerifier

from notifier.cases import act
from notifier.channels.slack_case import ACTION_IDS, BLOCK_PREFIX, mention, words
from notifier.channels.slack_config import SlackChannel, answers_to_slack
from notifier.core.cases import Action
from notifier.http_guard import read_body
from notifier.store.base import StoreUnavailable
from notifier.store.cases import EARLIER_ROUND, ActionResult, CaseNotFound
from notifier.store.follow_ups import FollowUpStore

if TYPE_CHECKING:
    from notifier.channels.slack import Slack
    from notifier.service import Service

__all__ = ["INTERACTIONS_PATH", "Click", "Interactions", "clicks", "interactions_for", "slack_router"]

log = structlog.get_logger("notifier.slack")

#: Where Slack posts clicks (the app's interactivity Request URL).
INTERACTIONS_PATH = "/v1/slack/interactions"
#: Slack's own bound on an interaction payload is far below this.
MAX_BODY = 1_000_000
#: How long a request's timestamp is accepted (and so how long a signature is remembered).
WINDOW = 300.0
#: A button's value: the case id, and the round its message shows (``slack_case.button_value``).
_VALUE = re.compile(r"^(?P<case>[A-Za-z0-9_-]{1,100})(?::(?P<round>[1-9][0-9]{0,8}))?$", re.ASCII)
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Click:
    """One click on a case button."""

    case_id: str
    action: Action
    user_id: str
    #: How the case shows who acted: the user's Slack name (their id when absent).
    user_name: str
    channel_id: str | None
    channel_name: str | None
    response_url: str | None
    #: The ``ts`` of the message whose button was clicked (which channel posted it is on record).
    message_ts: str | None = None
    #: The round of the case the clicked message shows (``None``: a button posted before they named one).
    round: int | None = None


def _name(user: Mapping[str, Any]) -> str:
    raw = str(user.get("name") or user.get("username") or user.get("id") or "?")
    return _CONTROL.sub("", raw).strip()[:200] or "?"


def clicks(payload: Any) -> list[Click]:
    """The case-button clicks of a ``block_actions`` payload (other payloads hold none)."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return []
    user: dict[str, Any] = payload["user"] if isinstance(payload.get("user"), dict) else {}
    user_id = str(user.get("id") or "")
    if not _SLACK_ID.match(user_id):
        return []
    channel: dict[str, Any] = payload["channel"] if isinstance(payload.get("channel"), dict) else {}
    url = payload.get("response_url")
    # The clicked message: ``container.message_ts``, also ``message.ts`` (block_actions payload,
    # https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).
    container: dict[str, Any] = payload["container"] if isinstance(payload.get("container"), dict) else {}
    message: dict[str, Any] = payload["message"] if isinstance(payload.get("message"), dict) else {}
    ts = container.get("message_ts") or message.get("ts")
    out = []
    for item in payload.get("actions") or []:
        if not isinstance(item, dict) or item.get("action_id") not in ACTION_IDS:
            continue
        value = _VALUE.match(str(item.get("value") or ""))
        # The button names its case twice; both must agree.
        if value is None or item.get("block_id") != f"{BLOCK_PREFIX}{value['case']}":
            continue
        out.append(Click(value["case"], ACTION_IDS[str(item["action_id"])], user_id, _name(user),
                         str(channel.get("id")) if channel.get("id") else None,
                         str(channel.get("name")) if channel.get("name") else None,
                         url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
                         str(ts) if isinstance(ts, str | int | float) and ts else None,
                         int(value["round"]) if value["round"] else None))
    return out


class Interactions:
    """What happens on a click, whichever way it arrived."""

    def __init__(self, service: Service, *, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._groups: dict[tuple[str, str], tuple[float, set[str]]] = {}

    # ----------------------------------------------------------------- channels
    def _slack_channels(self) -> dict[str, SlackChannel]:
        return {name: ch for name, ch in self.service.config.channels.items()
                if isinstance(ch, SlackChannel) and ch.interactive}

    def verified(self, body: bytes, headers: Mapping[str, str]) -> list[str]:
        """The channels whose signing secret signed this request (empty: refuse it)."""
        timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        if not timestamp or not signature or not timestamp.isdigit():
            return []
        now = self.clock()
        clock = _Clock(now)
        names = []
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return []
        # Then the channels a reload removed: a click on an alert they posted is Slack's too,
        # and is answered that the channel is gone (see :meth:`handle`).
        removed = {n: ch for n, ch in self.service.removed_channels.items() if isinstance(ch, SlackChannel)}
        for name, ch in (*self._slack_channels().items(), *removed.items()):
            if ch.signing_secret and SignatureVerifier(ch.signing_secret, clock).is_valid(text, timestamp, signature):
                names.append(name)
        if not names:
            return []
        # Replays inside the window: each signature is accepted once (per process).
        self._seen = {s: t for s, t in self._seen.items() if t > now - 2 * WINDOW}
        if signature in self._seen:
            return []
        self._seen[signature] = now
        return names

    def socket_channels(self, app_token: str) -> list[str]:
        """The channels whose clicks arrive over the Socket Mode connection of ``app_token``."""
        return [n for n, ch in self._slack_channels().items() if ch.socket_mode and ch.app_token == app_token]

    def _pick(self, click: Click, candidates: list[str]) -> str:
        """The configured channel the click came from (its Slack channel), else the first candidate."""
        channels = self._slack_channels()
        candidates = [n for n in candidates if n in channels] or candidates
        for name in candidates:
            where = channels[name].channel if name in channels else None
            if where and where in (click.channel_id, click.channel_name, f"#{click.channel_name}"):
                return name
        return candidates[0]

    def _adapter(self, name: str) -> Slack | None:
        from notifier.channels.slack import Slack

        channel = self.service.channels.get(name)
        return channel if isinstance(channel, Slack) else None

    async def _allowed(self, config: SlackChannel, adapter: Slack | None, user: str) -> bool:
        if not config.allow or user in config.allow:
            return True
        for group in (g for g in config.allow if g.startswith("S")):
            key = (config.token or "", group)
            cached = self._groups.get(key)
            if cached is None or cached[0] < self.clock() - 300:
                if adapter is None:
                    continue
                try:
                    cached = (self.clock(), await adapter.members(group))
                except Exception as exc:  # unknown group, missing scope: not a member, and say why
                    log.warning("cannot read a Slack user group of the allow list", group=group,
                                error=type(exc).__name__)
                    continue
                self._groups[key] = cached
            if user in cached[1]:
                return True
        return False

    # ----------------------------------------------------------------- handling
    def accept(self, payload: Any, candidates: list[str]) -> int:
        """Start handling the clicks of ``payload`` in the background; how many there are.

        The caller answers Slack at once: the action and its answers follow.
        """
        found = clicks(payload)
        for click in found:
            task = asyncio.create_task(self.handle(click, candidates))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(found)

    async def drain(self) -> None:
        """Wait for the clicks being handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _posted_by(self, click: Click) -> str | None:
        """The channel (configured or not) that posted the clicked alert, when the store knows."""
        if not click.message_ts:
            return None
        return await FollowUpStore(self.service.store.connector()).posted_by(click.case_id, click.message_ts)

    async def handle(self, click: Click, candidates: list[str]) -> ActionResult | None:
        """Act on one click; tell the clicker alone when it is refused. The result, if it ran."""
        service = self.service
        try:
            origin = await self._posted_by(click)
        except StoreUnavailable:
            origin = None  # the action below meets the outage too, and says so
        name = origin if origin in candidates else self._pick(click, candidates)
        config = self._slack_channels().get(name)
        adapter = self._adapter(name) or next(filter(None, map(self._adapter, candidates)), None)
        gone = service.removed_channels.get(origin or name)
        locale = (config.locale if config else getattr(gone, "locale", None)) or service.config.defaults.locale
        w = words(locale)

        async def tell(text: str) -> None:
            if adapter is not None:
                await adapter.tell(click.user_id, text, response_url=click.response_url, channel=click.channel_id)
            elif (click.response_url and isinstance(gone, SlackChannel)
                  and answers_to_slack(click.response_url, gone.base_url)):
                # No Slack channel configured any more: answer through the click itself.
                await _respond(click.response_url, text)

        if (origin is not None and origin not in service.config.channels) or (
                origin is None and name not in service.config.channels):
            # Its alert came from a channel a reload removed: acting would go unseen (no channel
            # left to update that alert) under rules no longer written anywhere.
            where = service.config.defaults.base_url
            log.info("slack click refused: its channel is no longer configured", user=click.user_id,
                     channel=origin or name, case=click.case_id)
            await tell(w.channel_gone.format(
                channel=_CONTROL.sub("", origin or name).replace("`", "'"), action=click.action, case=click.case_id,
                page=f" ({where}/console/cases/{click.case_id})" if where else ""))
            return None
        if config is None or not await self._allowed(config, adapter, click.user_id):
            log.info("slack click refused: user not allowed", user=click.user_id, channel=name)
            await tell(w.not_allowed)
            return None
        try:
            result = await act(service.store, service.config, click.case_id, click.action, by=click.user_name,
                               via=f"slack:{click.user_id}", now=service.clock(), case_round=click.round)
        except CaseNotFound:
            await tell(w.unknown_case)
            return None
        except StoreUnavailable as exc:
            log.warning("slack click not recorded: store unavailable", user=click.user_id, case=click.case_id)
            service.store.outage.failed(exc, task="slack click")
            await tell(w.unavailable)  # the error's text (host, user) is for the log only
            return None
        log.info("slack click", case=click.case_id, action=click.action, user=click.user_id,
                 outcome=result.outcome)
        if result.outcome == "refused":
            case = result.case
            if result.reason == EARLIER_ROUND:
                await tell(w.earlier_round)
            elif case.status == "claimed":
                await tell(w.refused_holder.format(who=mention(case.claimed_by)))
            else:
                await tell(w.refused_resolved.format(who=mention(case.resolved_by)))
        return result


async def _respond(response_url: str, text: str) -> None:
    """Show ``text`` to the clicker alone through the click's ``response_url``, with no
    channel left to do it."""
    from notifier.channels.slack import reply_privately

    try:
        await reply_privately(response_url, text)
    except Exception as exc:  # telling is best effort: nothing was done either way
        log.warning("could not tell the Slack user", error=type(exc).__name__)


class _Clock(Clock):
    """slack-sdk's clock, reading the time the request was checked at."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


_BY_SERVICE: weakref.WeakKeyDictionary[Any, Interactions] = weakref.WeakKeyDictionary()


def interactions_for(service: Service) -> Interactions:
    """The one :class:`Interactions` of ``service`` (shared by the Request URL and Socket Mode)."""
    found = _BY_SERVICE.get(service)
    if found is None:
        found = _BY_SERVICE[service] = Interactions(service)
    return found


def slack_router(get_service: Callable[[], Service]) -> APIRouter:
    """``POST /v1/slack/interactions``: Slack's clicks, signed with the app's signing secret."""
    router = APIRouter()

    @router.post(INTERACTIONS_PATH, include_in_schema=False)
    async def interactions(request: Request) -> Response:
        body = await read_body(request, MAX_BODY)
        if body is None:
            return _error(413, f"body is larger than {MAX_BODY} bytes")
        handler = interactions_for(get_service())
        candidates = handler.verified(body, request.headers)
        if not candidates:
            return _error(401, "the Slack signature is missing, wrong, replayed or older than five minutes")
        try:
            payload = orjson.loads(parse_qs(body.decode("utf-8")).get("payload", [""])[0])
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "payload: expected a form field holding a JSON interaction payload")
        handler.accept(payload, candidates)
        # An empty 200 is Slack's acknowledgement; the message changes through chat.update.
        return Response(status_code=200)

    return router


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type="application/json")
