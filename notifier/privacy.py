"""Subject requests: export everything stored about a person or a conversation, or erase it.

Used by ``notifier privacy export|erase`` and ``GET|DELETE /v1/privacy/subjects``::

    report = await erase_subject(config, store, Subject.email("jean@example.com"),
                                 erased_by="marie", via="cli", now=now)
    report["counts"]            # {"events_anonymised": 4, "deliveries": 3, ...}
    report["helpdesk_tickets"]  # tickets created there: erase them in the helpdesk too

What is deleted and what is anonymised, table by table, is in
:mod:`notifier.store.privacy` and ``docs/privacy.md``. The audit record keeps a keyed
hash of the identifier (:meth:`~notifier.core.subject.Subject.digest`), who erased,
when, and the counts; never the identifier.
"""

from __future__ import annotations

import hashlib
import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from notifier.config.models import Config
from notifier.core.events import Event, Priority
from notifier.core.privacy import for_channel
from notifier.core.subject import Subject
from notifier.store.base import Store
from notifier.store.connector import Row, as_time
from notifier.store.privacy import SubjectStore, body_of

__all__ = ["ERASED_TABLES", "audit_key", "erase_subject", "export_subject", "helpdesk_tickets"]

log = structlog.get_logger("notifier.privacy")

#: How long before its search an erasure looks again for new events, in its transaction.
ACCEPT_MARGIN = timedelta(minutes=5)

#: Tables an erasure changes: their free space is reclaimed afterwards.
ERASED_TABLES = ["events", "deliveries", "attempts", "dedup", "threads", "cases", "case_events", "case_actions"]


def _iso(value: Any) -> str | None:
    t = as_time(value)
    return t.isoformat() if t else None


async def audit_key(config: Config, store: Store, now: datetime) -> bytes:
    """The key of the audit record's hashes: ``defaults.privacy.audit_salt``, else the stored one."""
    salt = config.defaults.privacy.audit_salt
    if salt:
        return hashlib.sha256(salt.encode()).digest()
    return await SubjectStore(store.connector()).salt(now)


def helpdesk_tickets(config: Config, deliveries: list[Row]) -> list[dict[str, Any]]:
    """The helpdesk tickets these deliveries created or added to, with the link an agent opens.

    The admin erases them in the helpdesk: notifier cannot (nor should it) delete them itself.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in deliveries:
        settings = config.channels.get(d["channel"])
        if settings is None or settings.type not in ("zendesk", "freshdesk") or not d["ref"]:
            continue
        ticket = str(d["ref"])
        if settings.type == "zendesk":
            base = (getattr(settings, "base_url", None) or f"https://{settings.subdomain}.zendesk.com").rstrip("/")
            # The agent interface's ticket page, /agent/tickets/<id> (as linked in Zendesk's own apps,
            # e.g. github.com/agnostack/magento_extension/pull/92).
            url, api = f"{base}/agent/tickets/{ticket}", f"{base}/api/v2/tickets/{ticket}.json"
        else:
            base = (getattr(settings, "base_url", None) or f"https://{settings.domain}.freshdesk.com").rstrip("/")
            # Agents open /helpdesk/tickets/<id> (github.com/leikahing/mentos/issues/1).
            url, api = f"{base}/helpdesk/tickets/{ticket}", f"{base}/api/v2/tickets/{ticket}"
        out.setdefault((d["channel"], ticket), {"channel": d["channel"], "type": settings.type,
                                                "ticket": ticket, "url": url, "api": api})
    return list(out.values())


async def _as_sent(config: Config, events: dict[str, Event], deliveries: list[Row]) -> dict[str, str | None]:
    """Each delivery's message rendered as the worker sends it, under today's channels.yaml."""
    from notifier.channels import ChannelContext, Outbound, build_channel
    from notifier.render import Renderer

    renderer = Renderer(config.templates)
    ctx = ChannelContext(defaults=config.defaults, renderer=renderer, inbox="127.0.0.1:0",
                         event_url=config.defaults.event_url)
    built: dict[str, Any] = {}
    out: dict[str, str | None] = {}
    try:
        for d in deliveries:
            event, name = events.get(d["event_id"]), d["channel"]
            if event is None or name not in config.channels:
                out[d["id"]] = None
                continue
            if name not in built:
                built[name] = build_channel(name, config.channels[name], ctx)
            channel = built[name]
            policy = config.privacy_for(name)
            seen = for_channel(event, policy.include, policy.redact or (), config.locale_for(name))
            message = Outbound(delivery_id=d["id"], event=seen, channel=name, route=d["route"],
                               priority=Priority(d["priority"]), folded=d["folded"] or 0)
            try:
                module = importlib.import_module(f"notifier.channels.{channel.type}")
                out[d["id"]] = module.preview(channel, message)
            except Exception as exc:  # shown in place of the message: the export goes on
                out[d["id"]] = f"(cannot render: {type(exc).__name__}: {exc})"
    finally:
        for channel in built.values():
            await channel.aclose()
    return out


async def site_to_name(store: Store, subject: Subject, *, flag: str, empty: str) -> str | None:
    """Why ``subject`` must be named with its site, in the words of the interface asking
    (``flag`` names a site, ``empty`` the site-less one); ``None``: it need not be.

    Each site's chatbot numbers its own conversations: ``c-7`` of one site is another
    person's ``c-7`` on the next, and must not be exported or erased along with it.
    """
    if subject.kind != "conversation" or subject.site is not None:
        return None
    sites = await SubjectStore(store.connector()).sites_of(subject.value)
    if len(sites) < 2:
        return None
    named = ", ".join(site or f"'' (sent without a site: {empty})" for site in sites)
    return f"conversation {subject.value!r} exists on {len(sites)} sites ({named}): name its site with {flag}"


async def export_subject(config: Config, store: Store, subject: Subject, now: datetime) -> dict[str, Any]:
    """Everything stored about ``subject``, as JSON-ready data (an access request's answer)."""
    found = await SubjectStore(store.connector()).find(subject)
    events: dict[str, Event] = {}
    for r in found.events:
        try:
            events[r["id"]] = Event.model_validate(body_of(r["body"]))
        except ValueError:
            continue  # shown as stored below; only its rendering is skipped
    sent = await _as_sent(config, events, found.deliveries)
    attempts: dict[str, list[dict[str, Any]]] = {}
    for a in found.attempts:
        attempts.setdefault(a["delivery_id"], []).append(
            {"number": a["number"], "at": _iso(a["at"]), "outcome": a["outcome"], "reason": a["reason"]})
    actions: dict[str, list[dict[str, Any]]] = {}
    for a in found.actions:
        actions.setdefault(a["case_id"], []).append(
            {"action": a["action"], "actor": a["actor"], "via": a["via"], "at": _iso(a["at"]),
             "note": a["note"], "outcome": a["outcome"]})
    times = ("opened_at", "round_opened_at", "updated_at", "expected_response_at", "claimed_at", "resolved_at")
    return {
        "subject": {"kind": subject.kind, "value": subject.value},
        "exported_at": now.isoformat(),
        # ``own``: false for another visitor's event that names the subject (their words,
        # to review before the export is sent on).
        "events": [{"id": r["id"], "kind": r["kind"], "received_at": _iso(r["received_at"]),
                    "own": r["id"] in found.own or subject.kind == "conversation",
                    "event": body_of(r["body"])} for r in found.events],
        "deliveries": [{"id": d["id"], "event_id": d["event_id"], "channel": d["channel"], "route": d["route"],
                        "status": d["status"], "attempts": attempts.get(d["id"], []),
                        "created_at": _iso(d["created_at"]), "sent_at": _iso(d["sent_at"]),
                        "ref": d["ref"], "last_error": d["last_error"], "sent": sent.get(d["id"])}
                       for d in found.deliveries],
        "cases": [{**{k: (_iso(v) if k in times else v) for k, v in c.items()}, "actions": actions.get(c["id"], [])}
                  for c in found.cases],
        "notes_elsewhere": [{"source": s, "id": i} for s, i in found.notes],
        "helpdesk_tickets": helpdesk_tickets(config, found.deliveries),
    }


async def erase_subject(config: Config, store: Store, subject: Subject, *, erased_by: str, via: str,
                        now: datetime) -> dict[str, Any]:
    """Erase ``subject`` in one transaction, keep the audit record, then reclaim the space.

    The answer lists the helpdesk tickets that were created (erase them there) and whether
    the database's files hold no copy any more (``reclaimed``).
    """
    key = await audit_key(config, store, now)
    digest = subject.digest(key)
    # Searched first without the write lock (a scan of every event on a big database);
    # then, in the transaction, what it found is read again and only events received
    # since are searched (a margin covers an accept that stamped its time before the
    # search and committed after).
    started = datetime.now(UTC) - ACCEPT_MARGIN
    first = await SubjectStore(store.connector()).find(subject)
    async with store.connector().transaction() as tx:
        subjects = SubjectStore(tx)
        found = await subjects.find(subject, known=first, since=min(started, now - ACCEPT_MARGIN))
        tickets = helpdesk_tickets(config, found.deliveries)
        counts = await subjects.erase(subject, found, now=now, erased_by=erased_by)
        await subjects.record(digest=digest, kind=subject.kind, erased_by=erased_by, via=via, now=now,
                              counts=counts)
    reclaimed = await store.connector().reclaim(ERASED_TABLES)
    log.info("subject erased", subject=digest, kind=subject.kind, erased_by=erased_by, via=via,
             reclaimed=reclaimed, **counts.to_json())
    return {"subject": {"kind": subject.kind, "digest": digest}, "erased_at": now.isoformat(),
            "erased_by": erased_by, "via": via, "counts": counts.to_json(), "helpdesk_tickets": tickets,
            "reclaimed": reclaimed}
