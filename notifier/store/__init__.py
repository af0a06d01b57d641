"""Storage: one port, two adapters. :func:`open_store` picks one from a URL."""

from __future__ import annotations

from notifier.store.base import (
    Attempt,
    Claimed,
    Delivery,
    DigestRun,
    NewDelivery,
    SchemaMismatch,
    Store,
    StoreUnavailable,
    Transaction,
)

__all__ = [
    "Attempt",
    "Claimed",
    "Delivery",
    "DigestRun",
    "NewDelivery",
    "SchemaMismatch",
    "Store",
    "StoreUnavailable",
    "Transaction",
    "store_for",
]


def store_for(url: str, *, inline: bool = False) -> Store:
    """The adapter for ``url``: ``sqlite:///…`` or ``postgresql://…``.

    ``inline``: SQLite's short calls (claims, group commits, accept transactions) run on
    the event loop's thread (:mod:`~notifier.store.sqlite_thread`), as ``notifier serve``
    and ``notifier worker`` run them; PostgreSQL has no use for it.
    """
    if url.startswith("sqlite:"):
        from notifier.store.sqlite import SqliteStore

        return SqliteStore(url, inline=inline)
    if url.startswith(("postgresql://", "postgres://")):
        from notifier.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]

        return PostgresStore(url)  # type: ignore[no-any-return,unused-ignore]
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://…")
