"""``notifier privacy purge [--dry-run]``: the daily retention purge, now (see :mod:`notifier.retention`)."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

__all__ = ["add_purge", "purge"]


def add_purge(sub: Any) -> None:
    """Add ``purge`` to the actions of ``notifier privacy`` (``sub``: its subparsers)."""
    p = sub.add_parser("purge", help="remove now what is older than defaults.retention (the daily purge)",
                       description="Remove now what is older than defaults.retention: the purge every serve "
                                   "and worker process runs once a day. Events whose delivery is still "
                                   "pending are kept.")
    p.add_argument("--dry-run", action="store_true", help="count what would be removed; remove nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")


def purge(args: argparse.Namespace) -> int:
    """Run ``notifier privacy purge``; the exit status."""
    import socket

    from notifier.cli_common import loaded_config, with_store
    from notifier.logs import configure_logging
    from notifier.retention import Purger, cutoffs
    from notifier.store.base import Store
    from notifier.worker import utcnow

    configure_logging("warning")  # the summary below says what the purge's log line would
    config = loaded_config(args.config)
    if config is None:
        return 1

    async def go(store: Store) -> int:
        now = utcnow()
        purger = Purger(store, lambda: config, f"cli:{socket.gethostname()}", utcnow)
        purged = await purger.run_now(now, dry_run=args.dry_run)
        cut = cutoffs(config, now)
        data: dict[str, Any] = {**purged.to_json(), "events_before": cut.events.isoformat(),
                                "deliveries_before": cut.deliveries.isoformat(), "cases_before": cut.cases.isoformat()}
        if args.json:
            print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
            return 0
        verb = "would remove" if args.dry_run else "removed"
        rows = ", ".join(f"{n} {t}" for t, n in data["removed"].items() if n) or "nothing"
        print(f"{verb} {rows}")
        print(f"  events received before {cut.events:%Y-%m-%d %H:%M} UTC, finished deliveries planned before "
              f"{cut.deliveries:%Y-%m-%d %H:%M} UTC, cases idle since before {cut.cases:%Y-%m-%d %H:%M} UTC")
        if purged.held:
            print(f"  kept {purged.held} older event(s) whose delivery is still pending: purged once finished")
        return 0

    # A database that is missing, down or of another version: one line and exit status 2,
    # as every command that reads the store says it (notifier.cli_common, notifier.cli).
    return with_store(args, go)
