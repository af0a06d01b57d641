"""Subject requests in the store: finding, exporting and erasing what concerns one person.

Written once above the connector port, for both backends. What belongs to a subject:

- by email: every event whose body (user fields, message, transcript, tool arguments,
  page URL, its id) names the address in any Unicode form, narrowed by the database
  (``LIKE``/``ILIKE`` on the address's ASCII pieces, a regular expression for the
  characters that fold into them) and confirmed in Python on the folded text
  (:meth:`~notifier.core.subject.Subject.mentioned_in`), and every
  event of the conversations where the address is the user's own (the person's whole
  chat; a conversation that merely mentions them keeps its other events);
- by conversation: every event with that ``conversation_id`` (on the subject's site, when named);
- then what notifier wrote for the cases those events opened (an escalation, an
  acknowledgement or a follow-up carries a copy of the request).

Erasure, per table (one transaction; see ``docs/privacy.md``):

==============  ==========================================================================
events          anonymised: the body keeps kind, site, time, role, priority and locale; the
                subject's conversation id becomes a random one (distinct conversations still
                count), the question key goes; ``erased_at`` marks it (a visitor can write the
                body's ``erased`` label, not that column), so a replay of its alerts sends nothing.
                An event whose *id* names the email is deleted.
deliveries      anonymised: status, channel, route and times stay (delivery health);
                dedup key, thread key, reference, progress and error text go; one not
                sent yet is suppressed. Attempts keep their outcome and duration, not
                their reason text.
dedup, threads  deleted (their keys are built from the conversation or the person).
cases           anonymised: identity and conversation id replaced, note removed; the
                notes of its actions and of their follow-ups removed; timers, measures
                and ratings kept (no personal data), escalation steps still to come
                cancelled (``cancelled_because`` ``erased``: nothing is left to send).
                One not resolved yet is closed: ``resolved``, ``resolved_because``
                ``erased`` (nobody answered: no response time), with an action in its
                history by whoever erased, ``via`` ``erasure``; it cannot be reopened.
other notes     a case, action or follow-up note elsewhere naming the email is removed.
==============  ==========================================================================
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from notifier.core.events import Kind
from notifier.core.subject import Subject
from notifier.store.connector import Connector, Row, as_time, queries

__all__ = ["CLOSING_NOTE", "ERASED_EVENT", "ErasureCounts", "Found", "SubjectStore", "body_of", "erased_delivery"]


#: The kinds a visitor's chatbot sends; any other kind of event was written by notifier.
_VISITOR_KINDS = orjson.dumps([k.value for k in Kind]).decode()

#: Why an alert of an erased event is not sent (a replay refused, a retry dead-lettered).
ERASED_EVENT = "not sent: its event was erased (the visitor's data), nothing is left to send"


def erased_delivery(delivery_id: str) -> str:
    """Why ``delivery_id`` is not replayed: its event was erased."""
    return f"the event of delivery {delivery_id} was erased (the visitor's data): nothing is left to send"


#: The note of the action that closes an erased visitor's case (what the team reads in its history).
CLOSING_NOTE = "closed by the erasure of the visitor's data: nobody is left to answer"


def _ids(values: Iterable[Any]) -> str:
    return orjson.dumps(sorted({v for v in values if v is not None})).decode()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _narrowing(subject: Subject) -> dict[str, str]:
    # What the database narrows a search for an email on: its ASCII pieces (LIKE), and the
    # characters that fold into them: a superset, confirmed in Python. PostgreSQL reads those
    # as a regular expression; SQLite asks Python (holds_variant, see store/sqlite.py), the
    # faster there.
    a, b = subject.needles
    variants = subject.variants
    return {"a": _like(a), "b": _like(b), "piece_a": a, "piece_b": b,
            "variants": variants.pattern, "encoded": variants.encoded_pattern}


def body_of(value: Any) -> dict[str, Any]:
    """A stored event body as JSON data (SQLite keeps text, PostgreSQL jsonb)."""
    if isinstance(value, dict):
        return value
    loaded: dict[str, Any] = orjson.loads(value)
    return loaded


def _iso(value: Any) -> str | None:
    t = as_time(value)
    return t.isoformat() if t else None


@dataclass
class Found:
    """Everything stored about a subject, as rows (read before an export or an erasure)."""

    events: list[Row] = field(default_factory=list)
    cases: list[Row] = field(default_factory=list)
    actions: list[Row] = field(default_factory=list)
    deliveries: list[Row] = field(default_factory=list)
    attempts: list[Row] = field(default_factory=list)
    #: Ids of the subject's own events (theirs, or of their conversations), as opposed to
    #: another person's events that merely name them.
    own: set[str] = field(default_factory=set)
    #: Notes of *other* cases and actions that name the subject: ``(source, id)``.
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing is stored about the subject."""
        return not (self.events or self.notes)


@dataclass(frozen=True)
class ErasureCounts:
    """What an erasure removed or anonymised, by kind of record (kept in the audit record)."""

    events_anonymised: int = 0
    events_deleted: int = 0
    deliveries: int = 0
    attempts: int = 0
    dedup_keys: int = 0
    threads: int = 0
    cases: int = 0
    notes: int = 0
    #: Escalation steps of the erased cases that were still to come: cancelled, nothing left to send.
    escalations: int = 0
    #: Erased cases that were still waiting or held: closed (nobody is left to answer).
    cases_closed: int = 0

    def to_json(self) -> dict[str, int]:
        """The counts by name."""
        return dict(self.__dict__)


class SubjectStore:
    """Subject requests on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "privacy")

    # ----------------------------------------------------------------- finding
    async def find(self, subject: Subject, *, known: Found | None = None, since: datetime | None = None) -> Found:
        """Every record about ``subject`` (see the module's docstring for what belongs to it).

        ``known`` and ``since``: what an earlier search found, and when it started. The
        events it named are read again by id, and only events received since then are
        searched: an erasure searches outside its transaction first, so it holds the
        write lock for a short second search rather than a scan of every event.
        """
        db, q = self.db, self.q
        events: dict[str, Row] = {}

        def add(rows: list[Row]) -> None:
            for r in rows:
                events.setdefault(r["id"], r)

        # The subject's own events: their cases are theirs too. An event of another person's
        # conversation that names them is erased, but that person's case stays theirs.
        own: set[str] = set()
        narrow: dict[str, str] = {}
        if subject.kind == "conversation":
            add([r for r in await db.fetch_all(q["events_of_conversation"], {"conversation": subject.value})
                 if subject.site is None or r["site"] == subject.site])
            own.update(events)
        else:
            # In a thread: the first search of a process reads Unicode's tables (a fraction of a
            # second the event loop must not wait).
            narrow = await asyncio.to_thread(_narrowing, subject)
            if known is not None and since is not None:
                candidates = await db.fetch_all(q["events_by_ids"], {"ids": _ids(r["id"] for r in known.events)})
                candidates += await db.fetch_all(q["events_mentioning_since"], {**narrow, "since": since})
            else:
                candidates = await db.fetch_all(q["events_mentioning"], narrow)
            named = [r for r in candidates
                     if subject.mentioned_in(body_of(r["body"])) or subject.mentioned_in(r["id"])]
            add(named)
            users = [r for r in named if subject.is_user_of(body_of(r["body"]))]
            pairs = sorted({(r["site"], r["conversation_id"]) for r in users if r["conversation_id"]})
            own.update(r["id"] for r in users)
            if pairs:
                rows = await db.fetch_all(q["events_of_conversations"], {"pairs": orjson.dumps(pairs).decode()})
                add(rows)
                own.update(r["id"] for r in rows)
        case_ids: list[str] = []
        if own:
            case_ids = [r["case_id"] for r in await db.fetch_all(q["cases_of_events"], {"ids": _ids(own)})]
        if case_ids:
            add(await db.fetch_all(q["events_of_cases"], {"ids": _ids(case_ids), "visitor_kinds": _VISITOR_KINDS}))
        found = Found(events=sorted(events.values(), key=lambda r: (as_time(r["occurred_at"]), r["id"])),
                      own=own)
        if case_ids:
            found.cases = await db.fetch_all(q["cases"], {"ids": _ids(case_ids)})
            found.actions = await db.fetch_all(q["actions"], {"ids": _ids(case_ids)})
        if events:
            found.deliveries = await db.fetch_all(q["deliveries"], {"ids": _ids(events)})
        if found.deliveries:
            found.attempts = await db.fetch_all(q["attempts"], {"ids": _ids(d["id"] for d in found.deliveries)})
        if subject.kind == "email":
            mine = set(case_ids)
            found.notes = [(r["source"], str(r["id"])) for r in await db.fetch_all(q["notes_mentioning"],
                                                                                narrow)
                           if subject.mentioned_in(r["note"]) and r["case_id"] not in mine]
        return found

    async def erased_among(self, event_ids: Iterable[str]) -> set[str]:
        """Those of ``event_ids`` an erasure anonymised (marked in the store, not in their body)."""
        ids = _ids(event_ids)
        if ids == "[]":
            return set()
        return {str(r["id"]) for r in await self.db.fetch_all(self.q["erased_among"], {"ids": ids})}

    async def sites_of(self, conversation: str) -> list[str]:
        """The sites holding a conversation with this id (more than one: name the site)."""
        rows = await self.db.fetch_all(self.q["sites_of_conversation"], {"conversation": conversation})
        return sorted(str(r["site"]) for r in rows)

    # ----------------------------------------------------------------- erasing
    async def erase(self, subject: Subject, found: Found, *, now: datetime, erased_by: str) -> ErasureCounts:
        """Delete or anonymise ``found`` (read by :meth:`find` in the same transaction) at ``now``.

        ``erased_by`` is named in the history of each case the erasure closes.
        """
        db, q = self.db, self.q
        gone = [r for r in found.events if subject.mentioned_in(r["id"])]
        gone_ids = {r["id"] for r in gone}
        kept = [r for r in found.events if r["id"] not in gone_ids]
        deliveries = found.deliveries
        delivery_ids = [d["id"] for d in deliveries]
        dropped = [d["id"] for d in deliveries if d["event_id"] in gone_ids]
        keys = [d["dedup_key"] for d in deliveries if d["dedup_key"]]
        threads = sorted({(d["channel"], d["thread_key"]) for d in deliveries if d["thread_key"]})
        dedup = await db.execute(q["delete_dedup"], {"keys": _ids(keys), "ids": _ids(delivery_ids)})
        n_threads = (await db.execute(q["delete_threads"], {"pairs": orjson.dumps(threads).decode()})
                     if threads else 0)
        await db.execute(q["forget_attempt_reasons"], {"ids": _ids(delivery_ids)})
        await db.execute(q["forget_deliveries"], {"ids": _ids(delivery_ids)})
        if gone_ids:
            await db.execute(q["delete_follow_ups"], {"ids": _ids(dropped)})
            await db.execute(q["delete_feedback"], {"ids": _ids(gone_ids)})
            await db.execute(q["delete_attempts"], {"ids": _ids(dropped)})
            await db.execute(q["delete_deliveries"], {"ids": _ids(dropped)})
            await db.execute(q["delete_case_links"], {"ids": _ids(gone_ids)})
            await db.execute(q["delete_events"], {"ids": _ids(gone_ids)})
        # One random conversation id per erased conversation: the digest still counts them apart.
        anonymous: dict[tuple[str, str], str] = {}
        for r in kept:
            conversation = r["conversation_id"]
            # Another person's conversation that named the subject stays theirs (and counted once).
            if conversation and r["id"] in found.own:
                conversation = anonymous.setdefault((r["site"], conversation), f"erased-{uuid.uuid4().hex}")
            await db.execute(q["tombstone_event"], {"id": r["id"], "conversation_id": conversation, "now": now,
                                                    "body": orjson.dumps(_tombstone(r, conversation)).decode()})
        case_ids = [c["id"] for c in found.cases]
        escalations = 0
        if case_ids:
            await db.execute(q["forget_cases"], {"ids": _ids(case_ids)})
            escalations = await db.execute(q["cancel_timers"], {"ids": _ids(case_ids)})
        other_cases = [i for s, i in found.notes if s == "case"]
        other_actions = [i for s, i in found.notes if s == "action"]
        other_follow_ups = [i for s, i in found.notes if s == "follow_up"]
        if case_ids or other_follow_ups:
            await db.execute(q["forget_follow_up_notes"], {"cases": _ids(case_ids), "ids": _ids(other_follow_ups)})
        if other_cases:
            await db.execute(q["forget_case_notes"], {"ids": _ids(other_cases)})
        notes = sum(1 for c in found.cases if c["note"]) + sum(1 for a in found.actions if a["note"])
        if case_ids or other_actions:
            await db.execute(q["forget_action_notes"], {"cases": _ids(case_ids), "ids": _ids(other_actions)})
        closed: list[str] = []
        if case_ids:
            # After the notes went: the closing action's own note (no personal data) stays.
            closed = [r["id"] for r in await db.fetch_all(q["close_cases"], {"ids": _ids(case_ids), "now": now})]
        if closed:
            await db.execute(q["record_closing"], {"ids": _ids(closed), "actor": erased_by, "now": now,
                                                   "note": CLOSING_NOTE})
        return ErasureCounts(
            events_anonymised=len(kept), events_deleted=len(gone_ids), deliveries=len(deliveries),
            attempts=len(found.attempts), dedup_keys=dedup, threads=n_threads, cases=len(case_ids),
            notes=notes + len(found.notes), escalations=escalations, cases_closed=len(closed))

    # ----------------------------------------------------------------- audit
    async def salt(self, now: datetime) -> bytes:
        """The key of the audit record's hashes: made on first use, then always the same."""
        row = await self.db.fetch_one(self.q["salt"])
        if row is None:
            # Two processes making one at once: the database keeps the first (one row, id 1).
            await self.db.execute(self.q["make_salt"], {"salt": secrets.token_hex(32), "now": now})
            row = await self.db.fetch_one(self.q["salt"])
            assert row is not None
        return bytes.fromhex(row["salt"])

    async def record(self, *, digest: str, kind: str, erased_by: str, via: str, now: datetime,
                     counts: ErasureCounts) -> None:
        """Keep the audit record of one erasure (never the identifier itself)."""
        await self.db.execute(self.q["record_erasure"], {
            "digest": digest, "kind": kind, "erased_by": erased_by, "via": via, "now": now,
            "counts": orjson.dumps(counts.to_json()).decode()})

    async def erasures(self, *, digest: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit records, newest first (``digest``: only those of one subject)."""
        rows = await self.db.fetch_all(self.q["erasures"], {"digest": digest, "limit": limit})
        return [{**r, "at": _iso(r["at"]),
                 "counts": r["counts"] if isinstance(r["counts"], dict) else orjson.loads(r["counts"])}
                for r in rows]


def _tombstone(row: Row, conversation: str | None) -> dict[str, Any]:
    """What remains of an erased event: what the digest counts, nothing the person wrote or was."""
    body = body_of(row["body"])
    kept = {k: body[k] for k in ("id", "kind", "site", "occurred_at", "role", "priority", "locale")
            if body.get(k) is not None}
    if conversation:
        kept["conversation_id"] = conversation
    kept["labels"] = {"erased": "true"}
    return kept
