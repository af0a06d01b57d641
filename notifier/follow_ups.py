"""Follow-ups: when someone acts on a case, every channel that announced it is told.

:func:`queue_follow_ups` runs inside the transaction of :func:`notifier.cases.act`: when
an action changed the case (a claim, a resolution, a reopening), each channel that
carried the case's alert — and whose adapter opts in — gets one delivery on the route
``follow-up``, committed with the action. The worker sends it like any other delivery
(same retries, backoff and dead letters, listed in ``/v1/deliveries`` and in the case's
history), calling the adapter's ``follow_up`` instead of ``send``. So an action from
anywhere (Slack, the CLI, the API, the console, an email link) reaches every channel.

Adding a follow-up to a channel type takes two things in its module:

1. a module-level ``follows_up(config) -> bool`` saying whether a channel so configured
   can follow up (Slack: only with a bot token, a webhook cannot edit what it posted);
2. a method on the adapter::

       async def follow_up(self, follow_up: FollowUp) -> SendResult:
           # follow_up.action / actor / at / note: what happened ("claim" by "Marie")
           # follow_up.case: the case as it stands now (render this, not the action,
           #   so follow-ups sent out of order still leave the latest state)
           # follow_up.targets: this channel's messages for the case, each with the
           #   Outbound it was built from and its ref (Slack ts, Message-ID, ticket id)
           ...
           return sent(ref_of_what_was_posted)   # or retryable(...) / permanent(...)

   It must be idempotent for one ``follow_up.delivery_id`` (a retry after a lost answer
   sends it again): edit in place where the service allows it, key replies on the id.

Channels whose module has no ``follows_up`` (or whose adapter has no ``follow_up``) are
skipped. An adapter that wants the case's state in its first message too sets
``shows_case = True``: the worker then fills :attr:`Outbound.case`.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

import orjson
import structlog

from notifier.config.models import Config
from notifier.core.events import Event, Priority, new_ids
from notifier.core.follow_up import FollowUp, Target
from notifier.core.outbound import Outbound
from notifier.core.privacy import for_channel
from notifier.store.base import Claimed, NewDelivery, Transaction
from notifier.store.cases import ActionResult, CaseStore
from notifier.store.connector import Connector
from notifier.store.follow_ups import FollowUpStore

__all__ = ["FOLLOW_UP_ROUTE", "FollowUpPending", "follows_up", "load_follow_up", "queue_follow_ups"]

log = structlog.get_logger("notifier.follow_ups")

#: The route name of every follow-up delivery.
FOLLOW_UP_ROUTE = "follow-up"


class FollowUpPending(Exception):
    """The follow-up cannot be sent yet, or ever: ``retry`` says which."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


def follows_up(channel_config: Any) -> bool:
    """Whether a channel so configured opts in to follow-ups (its module's ``follows_up``)."""
    try:
        module = importlib.import_module(f"notifier.channels.{channel_config.type}")
    except ImportError:
        return False
    check = getattr(module, "follows_up", None)
    return bool(check(channel_config)) if callable(check) else False


async def queue_follow_ups(tx: Transaction, config: Config, result: ActionResult, *, by: str, via: str,
                           now: datetime, note: str | None = None) -> list[str]:
    """Queue the follow-ups of an action that changed its case; the channels told.

    Runs in the action's transaction: the follow-ups exist if and only if the action does.
    """
    if not result.changed:
        return []
    case = result.case
    db = tx.connector()
    follow_ups = FollowUpStore(db)
    channels = [c for c in await follow_ups.carriers(case.id)
                if c in config.channels and follows_up(config.channels[c])]
    if not channels:
        return []
    cases = CaseStore(db)
    event_id = f"{case.id}:follow-up:{new_ids(1)[0]}"
    # The delivery's event says what it is and nothing of the visitor: the adapters render
    # the case's own messages (FollowUp.targets), and an erasure has no copy to look for.
    body = {"id": event_id, "kind": case.kind, "site": case.site,
            "labels": {"follow_up": result.action, "followed_case": case.id}}
    await db.write(cases.q["insert_internal_event"], {
        "id": event_id, "kind": "follow_up", "site": case.site, "now": now, "body": orjson.dumps(body).decode()})
    # Linked to the case, so its history lists the follow-ups and how they went.
    await db.write(cases.q["link_event"], {"case_id": case.id, "event_id": event_id, "round": case.round,
                                              "now": now})
    deliveries = [NewDelivery(id=id_, route=FOLLOW_UP_ROUTE, channel=c, priority=Priority.normal)
                  for id_, c in zip(new_ids(len(channels)), channels, strict=True)]
    await tx.insert_deliveries(event_id, deliveries, now)
    await follow_ups.record([d.id for d in deliveries], case_id=case.id, action=result.action,
                            actor=by, via=via, now=now, note=note)
    log.info("follow-ups queued", case=case.id, action=result.action, to=channels)
    return channels


async def load_follow_up(db: Connector, config: Config, claimed: Claimed) -> FollowUp:
    """What the adapter needs to send a claimed follow-up delivery.

    Raises :class:`FollowUpPending` when the case's alert is not posted on this channel
    yet (``retry``: it will be) or never was (not ``retry``).
    """
    d = claimed.delivery
    store = FollowUpStore(db)
    stored = await store.get(d.id)
    if stored is None:
        raise FollowUpPending("this follow-up's action is not recorded", retry=False)
    if await store.earlier_unsent(d.id, stored.case.id, d.channel, stored.at):
        # In order, per case and channel: a claim's update must not land after the resolution's.
        raise FollowUpPending("an earlier follow-up of this case on this channel is not sent yet", retry=True)
    rows = await store.targets(stored.case.id, d.channel)
    posted = [r for r in rows if r.status == "sent" and r.ref]
    if not posted:
        if any(r.status in ("pending", "claimed") for r in rows):
            raise FollowUpPending(f"the case's alert is not posted on {d.channel} yet", retry=True)
        raise FollowUpPending(f"no alert of the case reached {d.channel}", retry=False)
    policy = config.privacy_for(d.channel)
    locale = config.locale_for(d.channel)
    targets = []
    for r in posted:
        try:
            event = Event.model_validate(r.body) if isinstance(r.body, dict) else Event.model_validate_json(r.body)
        except ValueError:
            log.warning("a message of the case cannot be read back, skipped", delivery=r.delivery_id)
            continue
        message = Outbound(delivery_id=r.delivery_id, event=for_channel(event, policy.include, policy.redact or (),
                                                                       locale),
                           channel=d.channel, route=r.route, priority=Priority(r.priority), folded=r.folded,
                           keywords=r.keywords, thread_ref=r.thread_ref, routes=(r.route,), case=stored.case)
        targets.append(Target(r.delivery_id, message, r.ref, r.thread_ref))
    if not targets:
        raise FollowUpPending(f"no message of the case on {d.channel} can be read back", retry=False)
    return FollowUp(delivery_id=d.id, channel=d.channel, case=stored.case, action=stored.action,
                    actor=stored.actor, via=stored.via, at=stored.at, note=stored.note, targets=tuple(targets),
                    locale=stored.locale, attempt=d.attempts + 1, progress=d.progress)
