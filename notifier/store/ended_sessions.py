"""Console sessions ended by a logout, in the store: written once, above the connector port.

A console session is a signed cookie, valid until it expires whatever the server knows; a
logout records the session's nonce here, so every process sharing the database refuses a
copy of the cookie, before and after a restart. A row is needed only until the cookie
expires (its signature refuses it then): each logout removes the rows past that, so the
table holds at most the logouts of one session lifetime.
"""

from __future__ import annotations

from datetime import datetime

from notifier.store.connector import Connector, queries

__all__ = ["EndedSessionStore"]


class EndedSessionStore:
    """The ended sessions' statements on any :class:`Connector`."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.q = queries(connector.dialect, "ended_sessions")

    async def end(self, nonce: str, expires_at: datetime, now: datetime) -> None:
        """Record the session ``nonce`` as ended until ``expires_at``; forget those expired by ``now``."""
        async with self.db.transaction() as db:
            await db.write(self.q["end"], {"nonce": nonce, "expires_at": expires_at})
            await db.write(self.q["purge"], {"now": now})

    async def is_ended(self, nonce: str) -> bool:
        """Whether a logout ended the session ``nonce``."""
        return await self.db.fetch_one(self.q["is_ended"], {"nonce": nonce}) is not None

    async def purge(self, now: datetime) -> int:
        """Forget the sessions expired by ``now``; how many."""
        return await self.db.execute(self.q["purge"], {"now": now})

    async def count(self) -> int:
        """How many ended sessions are recorded (what the purge keeps small)."""
        row = await self.db.fetch_one(self.q["count"])
        return int(row["n"]) if row else 0
