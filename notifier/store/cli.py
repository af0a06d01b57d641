"""``notifier db upgrade|version|backup``: look at, migrate and back up the database.

    $ notifier db version --db postgresql://notifier@db/notifier
    schema version 0 (empty database); this notifier uses version 2: run `notifier db upgrade`
    $ notifier db upgrade --db postgresql://notifier@db/notifier
    applied schema versions 1, 2; the database is at version 2
    $ notifier db backup /var/backups/notifier/
    backed up notifier.db to /var/backups/notifier/notifier.db: 1204 events, 1530 deliveries (2.1 MB)

``version`` exits with 1 when the database is not at the version this notifier uses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys

from notifier.store import SchemaMismatch, Store, StoreUnavailable, store_for
from notifier.store.base import migrations

__all__ = ["add_arguments", "run"]

DEFAULT_DB = "sqlite:///notifier.db"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``upgrade`` and ``version`` subcommands to ``parser`` (``notifier db``)."""
    sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, help_text in (
        ("upgrade", "apply the pending schema migrations"),
        ("version", "print the schema version of the database"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--db", default=None,
                       help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    p = sub.add_parser("compact", help="SQLite: rewrite the database once so that purges give space back "
                                        "(incremental auto-vacuum; databases made before it existed)")
    p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    p = sub.add_parser("backup", help="copy the SQLite database safely, even while notifier runs")
    p.add_argument("dest", help="the file to write, or a directory to write it in")
    p.add_argument("--force", action="store_true", help="replace DEST if it exists")
    p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")


def run(args: argparse.Namespace) -> int:
    """Run ``notifier db <action>``; the process exit code."""
    url = getattr(args, "db", None) or os.environ.get("NOTIFIER_DB") or DEFAULT_DB
    if args.db_command == "backup":
        return _backup(url, args.dest, args.force)
    if args.db_command == "compact":
        return _compact(url)
    try:
        store = store_for(url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(store, args.db_command))
    except (StoreUnavailable, SchemaMismatch) as exc:
        print(f"error: {redact_url(url)}: {exc}", file=sys.stderr)
        return 2


async def _run(store: Store, action: str) -> int:
    latest = migrations(_backend(store))[-1][0]
    try:
        if action == "upgrade":
            applied = await store.upgrade()
            now = await store.schema_version()
            if applied:
                versions = ", ".join(str(v) for v in applied)
                print(f"applied schema version{'s' if len(applied) > 1 else ''} {versions};"
                      f" the database is at version {now}")
            else:
                print(f"nothing to do: the database is at version {now}")
            if now > latest:
                print(f"note: this notifier uses version {latest}; the database was upgraded by a newer one")
            return 0
        version = await store.schema_version()
        what = " (empty database)" if version == 0 else ""
        if version == latest:
            print(f"schema version {version}; up to date")
            return 0
        advice = "run `notifier db upgrade`" if version < latest else "upgrade notifier"
        print(f"schema version {version}{what}; this notifier uses version {latest}: {advice}")
        return 1
    finally:
        await store.close()


def _backup(url: str, dest: str, force: bool) -> int:
    from notifier.store.backup import BackupError, backup_sqlite

    if not url.startswith("sqlite:"):
        print(f"error: {redact_url(url)}: `notifier db backup` copies SQLite files; for PostgreSQL "
              "use pg_dump (see docs/deployment.md)", file=sys.stderr)
        return 2
    path = url.split("sqlite://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        print("error: an in-memory database has nothing to back up", file=sys.stderr)
        return 2
    try:
        done = backup_sqlite(path, dest, overwrite=force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {path} to {done.path}: {done.events} events, {done.deliveries} deliveries "
          f"({done.size / 1e6:.1f} MB)")
    return 0


def _compact(url: str) -> int:
    import sqlite3

    if not url.startswith("sqlite:"):
        print(f"error: {redact_url(url)}: `notifier db compact` is for SQLite; PostgreSQL's VACUUM "
              "runs after every purge (see docs/privacy.md)", file=sys.stderr)
        return 2
    path = url.split("sqlite://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:" or not os.path.exists(path):
        print(f"error: {path or ':memory:'}: no database file", file=sys.stderr)
        return 2
    # VACUUM rewrites the whole file: it needs the write lock for as long (stop notifier for a big one).
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        before = os.path.getsize(path)
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
    except sqlite3.Error as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"compacted {path}: {before / 1e6:.1f} MB -> {os.path.getsize(path) / 1e6:.1f} MB; "
          f"auto_vacuum {'incremental' if mode == 2 else mode}: purges now give space back")
    return 0


def _backend(store: Store) -> str:
    return str(getattr(store, "backend", "sqlite"))


def redact_url(url: str) -> str:
    """``url`` without its password: ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
