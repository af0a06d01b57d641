"""Acknowledgement: the user gets an email saying their request was received, and when to expect an answer.

Queued in the accept transaction with the first request of a case that gives an address the
user consented to and that is valid, once per case (a unique event id per case). The email goes
through the email channel named in ``acknowledge.via`` (its SMTP server and sender) to
the user alone, rendered from ``email/ack.subject.*`` and ``email/ack.body.*``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from notifier.config.cases import Acknowledge
from notifier.config.models import Config, Route
from notifier.core.addresses import checked_email
from notifier.core.cases import labelled, message_for_user, when_text
from notifier.core.events import Event, Priority, new_id
from notifier.store.base import NewDelivery, Transaction
from notifier.store.cases import CaseStore, Opened

__all__ = ["ACKNOWLEDGE_ROUTE", "acknowledgement_for", "may_acknowledge", "queue_acknowledgement",
           "user_address"]

#: The route name of every acknowledgement delivery.
ACKNOWLEDGE_ROUTE = "acknowledge"


def user_address(event: Event) -> str | None:
    """The user's address when they consented and it is a valid one, normalised; else ``None``."""
    user = event.consented_user
    return checked_email(user.email.strip()) if user is not None and user.email else None


def acknowledgement_for(config: Config, route: Route | None) -> Acknowledge | None:
    """The acknowledgement settings in force for a case of ``route`` (``None``: none is sent)."""
    ack = (route.acknowledge if route is not None else None) or config.defaults.acknowledge
    return ack if ack is not None and ack.enabled else None


def may_acknowledge(config: Config, events: list[Event]) -> list[bool]:
    """Per event, ``False`` when :func:`queue_acknowledgement` would queue nothing whatever its case.

    Worked out before the accept transaction: with no acknowledgement enabled anywhere, or
    no address the user consented to, there is nothing to look at inside it.
    """
    enabled = (config.defaults.acknowledge is not None and config.defaults.acknowledge.enabled) or any(
        r.acknowledge is not None and r.acknowledge.enabled for r in config.routes)
    return [enabled and user_address(event) is not None for event in events]


async def queue_acknowledgement(tx: Transaction, cases: CaseStore, config: Config, event: Event,
                                opened: Opened, now: datetime) -> bool:
    """Queue the acknowledgement of a case; ``False`` when none is due (or one was sent).

    Due for the first request of the case's first round that gives an address: a visitor
    who asked for a human anonymously, then left their address, hears from us once.
    """
    route = next((r for r in config.routes if r.name == opened.route), None)
    ack = acknowledgement_for(config, route)
    address = user_address(event)
    if ack is None or address is None or opened.round != 1 or opened.status == "resolved":
        return False
    d = config.defaults
    locale = event.locale or d.locale
    expected = opened.expected_response_at
    if opened.status == "claimed" or (expected is not None and expected <= now - timedelta(minutes=1)):
        # A later request of the case brought the address: promise no time already past, and
        # none at all once someone is on it (the sentence says so).
        expected = None
    event_id = f"{opened.id}:acknowledge"
    body = Event.model_validate({
        **event.to_json(), "id": event_id,
        "labels": labelled(event.labels, {
            "acknowledges_case": opened.id, "ack_address": address,
            "expected": when_text(expected, now, d.timezone, locale) if expected else "",
            "message_for_user": message_for_user(opened.status, expected, now, d.timezone, locale)}),
    })
    inserted = await cases.db.execute(cases.q["insert_internal_event"], {
        "id": event_id, "kind": "acknowledgement", "site": event.site, "now": now,
        "body": orjson.dumps(body.to_json()).decode()})
    if not inserted:
        return False
    await cases.db.execute(cases.q["link_event"], {"case_id": opened.id, "event_id": event_id,
                                                    "round": opened.round, "now": now})
    await tx.insert_deliveries(event_id, [NewDelivery(id=new_id(), route=ACKNOWLEDGE_ROUTE,
                                                      channel=ack.via, priority=Priority.normal)], now)
    return True
