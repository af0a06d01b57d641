"""The storage port: a handful of primitives; the logic lives above it.

Two adapters implement it, SQLite (the embedded default) and PostgreSQL, and one
contract suite (``tests/store/test_contract.py``) runs against both. Uniqueness (event
ids, one delivery per event and channel, dedup keys, digest periods) is enforced by the
database, never by a read-then-write in Python.

Delivery states::

    pending --claim--> claimed --complete--> sent
       ^                  |  \\--dead------> dead --replay--> pending
       |                  |
       +---reschedule-----+   (and release / lease expiry put a claim back to pending)
"""

from __future__ import annotations

import abc
import functools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Literal, NamedTuple

from notifier.core.dedup import DedupState
from notifier.core.digest import DigestStats
from notifier.core.events import Event, Priority
from notifier.store.connector import Connector, as_time
from notifier.store.outage_log import OutageLog
from notifier.store.partition import Partition

__all__ = [
    "Attempt",
    "Claimed",
    "Completion",
    "Delivery",
    "DeliveryStatus",
    "DigestRun",
    "NewDelivery",
    "SchemaMismatch",
    "Store",
    "StoreUnavailable",
    "Transaction",
    "claimed",
]

DeliveryStatus = Literal["pending", "claimed", "sent", "dead", "suppressed"]
STATUSES: tuple[DeliveryStatus, ...] = ("pending", "claimed", "sent", "dead", "suppressed")


def migrations(backend: str) -> list[tuple[int, str]]:
    """The numbered ``.sql`` migrations shipped for ``backend`` (``sql/<backend>/NNNN_name.sql``), in order."""
    folder = resources.files("notifier.store") / "sql" / backend
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(out)


#: The condition (SQL on ``deliveries``, the same in both dialects) a delivery meets to be
#: replayed at all: its event was not erased (``events.erased_at``, which a visitor cannot
#: write, unlike the body's ``erased`` label): its alert would be an empty shell.
NOT_ERASED = ("NOT EXISTS (SELECT 1 FROM events erased WHERE erased.id = deliveries.event_id"
              " AND erased.erased_at IS NOT NULL)")

#: The condition a dead letter meets to be replayed with all the others: an escalation only
#: while its case still waits, in the round that escalated (replaying every dead letter must
#: not page the on-call for a case taken since; an erased visitor's case waits no more: the
#: erasure closed it); and no delivery of an erased event (:data:`NOT_ERASED`).
STILL_DUE = ("(route <> 'escalation' OR EXISTS (SELECT 1 FROM case_events ce JOIN cases c ON c.id = ce.case_id"
             " WHERE ce.event_id = deliveries.event_id AND c.status IN ('open', 'reopened') AND c.round = ce.round))"
             " AND " + NOT_ERASED)

#: A digest run still 'running' after this long was abandoned (its process died): another
#: process may take it over.
DIGEST_STALE = timedelta(minutes=30)


class StoreUnavailable(Exception):
    """The database cannot be reached or written (down, locked, disk full, read-only).

    The caller may try again later: ``retry_after`` says when it is worth it, in seconds
    (the API sends it as ``Retry-After``). The message is for the operator's log: the
    driver's text in it may name the database's host, port, user or file. ``reason`` is
    what anyone may be told (``"the disk is full"``), empty when nothing more than
    "unavailable" is safe to say.

    >>> StoreUnavailable("the disk is full (database or disk is full)", reason="the disk is full").public
    'the database is unavailable, try again later: the disk is full'
    """

    def __init__(self, message: str, *, retry_after: float = 5.0, reason: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.reason = reason

    @property
    def public(self) -> str:
        """What an API client, a Slack user or a model may read: no connection detail."""
        return "the database is unavailable, try again later" + (f": {self.reason}" if self.reason else "")


class SchemaMismatch(Exception):
    """The database schema is not the one this version knows (run ``notifier db upgrade``)."""


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to create when an event is accepted."""

    id: str
    route: str
    channel: str
    priority: Priority
    #: ``suppressed`` deliveries are recorded (for visibility) but never sent.
    status: Literal["pending", "suppressed"] = "pending"
    dedup_key: str | None = None
    folded: int = 0
    keywords: tuple[str, ...] = ()
    thread_key: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One (event, channel) delivery as stored."""

    id: str
    event_id: str
    route: str
    channel: str
    status: DeliveryStatus
    priority: Priority
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    ref: str | None
    folded: int
    dedup_key: str | None
    keywords: tuple[str, ...]
    thread_key: str | None
    progress: dict[str, Any] = field(default_factory=dict)
    claimed_by: str | None = None
    lease_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data for the API and ``--json`` output."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v.value if isinstance(v, Priority) else v
        return out


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with what a channel needs to send it."""

    delivery: Delivery
    #: ``None`` when the stored event cannot be read back (see :attr:`problem`).
    event: Event | None
    #: The conversation's thread on this channel, if one was started.
    thread_ref: str | None
    #: Why the event could not be loaded: the worker dead-letters this delivery alone.
    problem: str | None = None


def claimed(delivery: Delivery, body: str | bytes | dict[str, Any], thread_ref: str | None) -> Claimed:
    """A claim whose stored event is parsed here, so one unreadable event spoils only its own claim.

    An event stored by an older version (before today's limits) or damaged in the database
    must not make the whole claim raise: that would stop the worker on every restart.
    """
    try:
        event = Event.from_stored_data(body) if isinstance(body, dict) else Event.from_stored_json(body)
    except Exception as exc:  # any reason at all: the delivery is dead-lettered with it
        first = str(exc).splitlines()
        detail = " ".join(first[1:3]).strip() if len(first) > 1 else (first[0] if first else "")
        return Claimed(delivery, None, thread_ref,
                       problem=f"the stored event cannot be read: {type(exc).__name__}: {detail[:300]}")
    return Claimed(delivery, event, thread_ref)


class Completion(NamedTuple):
    """A send the channel confirmed, to record (see :meth:`Store.complete_many`).

    A named tuple: one is made per send, three times cheaper than a frozen dataclass.
    """

    delivery_id: str
    worker: str
    now: datetime
    ref: str | None
    thread_ref: str | None
    duration_ms: float
    reason: str = ""


@dataclass(frozen=True)
class Attempt:
    """One try of a delivery."""

    delivery_id: str
    number: int
    at: datetime
    outcome: Literal["sent", "retry", "permanent"]
    reason: str
    duration_ms: float


@dataclass(frozen=True)
class DigestRun:
    """A claimed (digest, period)."""

    digest: str
    period_start: datetime
    period_end: datetime
    status: Literal["running", "sent", "failed"]
    claimed_by: str
    claimed_at: datetime
    finished_at: datetime | None = None
    detail: str | None = None


class Transaction(abc.ABC):
    """Primitives used while accepting events; all of them commit or none."""

    @abc.abstractmethod
    async def insert_event(self, event: Event, received_at: datetime, question_key: str | None) -> bool:
        """Store ``event`` (whose ``id`` is set); ``False`` if that id is already stored."""

    async def insert_events(self, items: list[tuple[Event, datetime, str | None]]) -> list[bool]:
        """:meth:`insert_event` for each ``(event, received_at, question_key)``, in order.

        Adapters may do it in one round trip.
        """
        return [await self.insert_event(*item) for item in items]

    @abc.abstractmethod
    async def lock_dedup(self, key: str) -> DedupState | None:
        """The stored state of ``key``, locked until the transaction ends."""

    async def lock_dedups(self, keys: list[str]) -> dict[str, DedupState | None]:
        """:meth:`lock_dedup` for each of ``keys``, in that order (adapters may do it in one round trip)."""
        return {key: await self.lock_dedup(key) for key in keys}

    @abc.abstractmethod
    async def save_dedup(self, key: str, state: DedupState) -> None:
        """Insert or replace the state of ``key``."""

    @abc.abstractmethod
    async def insert_deliveries(self, event_id: str, deliveries: list[NewDelivery], now: datetime) -> None:
        """Create the deliveries of one event, due ``now``."""

    async def insert_deliveries_of(self, batch: list[tuple[str, list[NewDelivery]]], now: datetime) -> None:
        """:meth:`insert_deliveries` for each ``(event_id, deliveries)`` (adapters may do it at once)."""
        for event_id, deliveries in batch:
            await self.insert_deliveries(event_id, deliveries, now)

    @abc.abstractmethod
    def connector(self) -> Connector:
        """The connector port bound to this transaction (tables such as cases commit with it)."""


class Store(abc.ABC):
    """Where events, deliveries, dedup windows, threads and digest runs live."""

    url: str

    def file_problem(self) -> str | None:
        """Why this store's data would not outlive the process (its file deleted), or ``None``."""
        return None

    @functools.cached_property
    def outage(self) -> OutageLog:
        """Where callers report ``StoreUnavailable`` and success, so an outage logs a few lines."""
        return OutageLog()

    # ----------------------------------------------------------------- lifecycle
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and check the schema is the current one (raises :class:`SchemaMismatch`)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect."""

    @abc.abstractmethod
    async def upgrade(self) -> list[int]:
        """Apply pending schema migrations; return the versions applied."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The schema version of the database (0 when empty)."""

    @abc.abstractmethod
    def connector(self) -> Connector:
        """The connector port on this store: the primitives tables such as cases are built on."""

    async def installed_at(self) -> datetime | None:
        """When this database was created (its first schema migration), ``None`` if unknown."""
        row = await self.connector().fetch_one("SELECT min(applied_at) AS at FROM schema_migrations")
        return as_time(row["at"]) if row is not None else None

    # ----------------------------------------------------------------- accept
    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction for accepting events."""

    async def notify_work(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Tell workers (in other processes too) that deliveries are due."""

    @abc.abstractmethod
    async def wait_for_work(self, timeout: float) -> None:
        """Return when another process may have added work, or after ``timeout`` seconds."""

    # ----------------------------------------------------------------- worker
    @abc.abstractmethod
    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int,
                    channels: list[str] | None = None, partition: Partition | None = None) -> list[Claimed]:
        """Claim up to ``limit`` due deliveries (pending and due, or claimed with an expired lease).

        With a ``partition``, pending deliveries of other partitions are claimed only once
        they are ``partition.steal_after`` overdue (see :mod:`notifier.store.partition`).
        """

    @abc.abstractmethod
    async def renew(self, worker: str, delivery_ids: list[str], now: datetime, lease: timedelta) -> list[str]:
        """Extend ``worker``'s claims on ``delivery_ids`` to ``now + lease`` (its heartbeat).

        Returns the ids renewed: a claim that expired and was taken by another worker, or
        that is finished, is not.
        """

    @abc.abstractmethod
    async def complete(self, delivery_id: str, worker: str, now: datetime, *, ref: str | None,
                       thread_ref: str | None, duration_ms: float, reason: str = "") -> bool:
        """Mark a claimed delivery sent, remember the thread; ``False`` if the claim was lost."""

    async def complete_many(self, items: list[Completion]) -> list[bool]:
        """Record several confirmed sends; adapters may do it in one transaction."""
        return [await self.complete(i.delivery_id, i.worker, i.now, ref=i.ref, thread_ref=i.thread_ref,
                                    duration_ms=i.duration_ms, reason=i.reason) for i in items]

    @abc.abstractmethod
    async def _fail(self, delivery_id: str, worker: str, now: datetime, *, status: str,
                    at: datetime | None, outcome: str, reason: str, duration_ms: float,
                    progress: dict[str, Any] | None) -> bool:
        """Record a failed attempt of ``worker``'s claim and set its ``status`` (and ``at``)."""

    async def reschedule(self, delivery_id: str, worker: str, now: datetime, at: datetime, *,
                         reason: str, duration_ms: float,
                         progress: dict[str, Any] | None = None) -> bool:
        """Record a retryable failure and when to try next."""
        ok = await self._fail(delivery_id, worker, now, status="pending", at=at, outcome="retry",
                              reason=reason, duration_ms=duration_ms, progress=progress)
        if ok:
            await self.notify_work()
        return ok

    async def dead(self, delivery_id: str, worker: str, now: datetime, *, reason: str,
                   duration_ms: float, outcome: Literal["retry", "permanent"] = "permanent",
                   progress: dict[str, Any] | None = None) -> bool:
        """Record the failure and make the delivery a dead letter."""
        return await self._fail(delivery_id, worker, now, status="dead", at=None, outcome=outcome,
                                reason=reason, duration_ms=duration_ms, progress=progress)

    @abc.abstractmethod
    async def release(self, worker: str, delivery_ids: list[str] | None = None) -> int:
        """Put claims of ``worker`` back to pending (all of them when ``delivery_ids`` is None)."""

    @abc.abstractmethod
    async def claim_owners(self) -> list[str]:
        """The workers that hold claims now (to release those of dead local processes)."""

    @abc.abstractmethod
    async def next_due(self, partition: Partition | None = None) -> datetime | None:
        """When the earliest pending delivery is due, or ``None`` when there is none.

        With a ``partition``: when :meth:`claim` with it would first find one.
        """

    # ----------------------------------------------------------------- reading
    @abc.abstractmethod
    async def get_event(self, event_id: str) -> tuple[Event, datetime] | None:
        """The event and when it was received."""

    @abc.abstractmethod
    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        """One delivery."""

    @abc.abstractmethod
    async def list_deliveries(self, *, status: DeliveryStatus | None = None, event_id: str | None = None,
                              channel: str | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, newest first."""

    @abc.abstractmethod
    async def attempts(self, delivery_id: str) -> list[Attempt]:
        """The attempts of one delivery, oldest first."""

    @abc.abstractmethod
    async def count_deliveries(self) -> dict[str, int]:
        """How many deliveries are in each status."""

    @abc.abstractmethod
    async def replay(self, now: datetime, delivery_id: str | None = None, *, all_dead: bool = False) -> list[str]:
        """Make dead letters pending again (attempts reset); the ids replayed.

        ``all_dead`` leaves out escalations of cases someone has taken since (:data:`STILL_DUE`);
        one named by its id is replayed whatever its case. Never a delivery whose event was
        erased (:data:`NOT_ERASED`): nothing is left to send.
        """

    # ----------------------------------------------------------------- digests
    @abc.abstractmethod
    async def claim_digest(self, digest: str, start: datetime, end: datetime, worker: str,
                           now: datetime, *, force: bool = False) -> bool:
        """Claim ``(digest, start)``; ``False`` if it was already claimed (``force`` re-claims).

        A claim still running after :data:`DIGEST_STALE` is taken over: its process died.
        """

    @abc.abstractmethod
    async def finish_digest(self, digest: str, start: datetime, now: datetime, *, ok: bool,
                            detail: str = "") -> None:
        """Record how the digest of that period went."""

    @abc.abstractmethod
    async def last_digest(self, digest: str) -> DigestRun | None:
        """The latest claimed period of ``digest``."""

    @abc.abstractmethod
    async def digest_stats(self, start: datetime, end: datetime, *, site: str | None, tz: str,
                           top_n: int, previous_start: datetime | None = None) -> DigestStats:
        """Counts of ``[start, end)`` for a digest, aggregated in the database.

        Totals (and those of ``[previous_start, start)`` to compare), user activity per local
        hour of ``tz``, the ``top_n`` most common questions (similar ones grouped), the first
        20 support requests and the notifier's own delivery health.
        """

    # ----------------------------------------------------------------- iteration helpers
    async def iter_deliveries(self, status: DeliveryStatus) -> AsyncIterator[Delivery]:
        for d in await self.list_deliveries(status=status, limit=100_000):
            yield d
