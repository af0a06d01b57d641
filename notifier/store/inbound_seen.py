"""What inbound helpdesk webhooks already told, in the store: written once, above the connector port.

``serve --api-processes`` runs several API processes, and on PostgreSQL several hosts
share one database; the kernel or a load balancer hands each request to any of them. A
memory of the requests already acted upon must therefore live in the database, or a
captured request sent to another process (or after a restart) is new there.

A row is a key claimed until ``expires_at``: a Zendesk signature until its timestamp is
refused anyway, a Freshdesk ticket reported resolved until its case can no longer be found
(see :mod:`notifier.helpdesk_inbound`). Each claim forgets the rows past theirs in the same
transaction (one range delete on an index), so the table holds about one window of requests
and the resolved tickets of one retention period.
"""

from __future__ import annotations

from datetime import datetime

from notifier.store.connector import Connector, queries

__all__ = ["InboundSeenStore"]


class InboundSeenStore:
    """The statements of :mod:`notifier.store.inbound_seen` on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "inbound_seen")

    async def claim(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Claim ``key`` until ``expires_at``: ``True`` for the first claim, ``False`` if it is held.

        A row expired by ``now`` no longer holds its key. Whichever process claims first wins,
        however many ask at once (the key is unique in the database).
        """
        async with self.db.transaction() as db:
            await db.write(self.q["purge"], {"now": now})
            return await db.execute(self.q["claim"], {"key": key, "expires_at": expires_at}) == 1

    async def forget(self, key: str) -> None:
        """Let ``key`` be claimed again (its request failed, or a ticket was reported reopened)."""
        await self.db.execute(self.q["forget"], {"key": key})

    async def purge(self, now: datetime) -> int:
        """Forget the rows expired by ``now``; how many."""
        return await self.db.execute(self.q["purge"], {"now": now})

    async def count(self) -> int:
        """How many rows are held (what the purges keep small)."""
        row = await self.db.fetch_one(self.q["count"])
        return int(row["n"]) if row else 0
