"""Benchmark of a subject request on a big database: how long an export and an erasure take.

    python bench/erasure.py                          # SQLite, 200,000 events
    python bench/erasure.py --events 1000000
    python bench/erasure.py --db postgresql://…      # an empty PostgreSQL database

Builds the database of ``bench/purge.py`` (``--events`` events, one in five a delivered
support request, each with its own visitor email), then asks for one visitor by email:

- **find**: the search alone (the database narrows on the address, Python confirms);
- **export**: find, plus every delivery rendered as sent;
- **erase**: a search without the write lock, then the erasure's transaction (what the
  search found read again, events received since searched, anonymised, audit record),
  then the reclaiming (SQLite: incremental vacuum and an emptied WAL; PostgreSQL: VACUUM);
- **write lock held**: the transaction alone, the time the API's writes may wait.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from purge import build_postgres, build_sqlite

from notifier.config import parse_config
from notifier.core.subject import Subject
from notifier.privacy import erase_subject, export_subject
from notifier.store import store_for
from notifier.store.privacy import SubjectStore

CONFIG = """
version: 1
defaults: {timezone: UTC}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
"""


async def run(url: str, n: int) -> list[tuple[str, float, str]]:
    now = datetime.now(UTC)
    store = store_for(url)
    await store.open()  # creates the schema
    await store.close()
    started = time.perf_counter()
    if url.startswith("sqlite"):
        build_sqlite(Path(url.split("sqlite:///", 1)[1]), n, now)
    else:
        build_postgres(url, n, now)
    print(f"built {n:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    config = parse_config(CONFIG, "channels.yaml")
    # A support request (i % 5 == 0) in the middle of the old events: found, delivered.
    subject = Subject.email(f"camille.{(n // 2) // 5 * 5}@example.com")
    store = store_for(url)
    await store.open()
    try:
        out = []
        t = time.perf_counter()
        found = await SubjectStore(store.connector()).find(subject)
        out.append(("find", time.perf_counter() - t, f"{len(found.events)} event, {len(found.deliveries)} delivery"))
        t = time.perf_counter()
        data = await export_subject(config, store, subject, now)
        out.append(("export", time.perf_counter() - t, f"{len(data['deliveries'])} delivery rendered"))
        held: list[float] = []
        transaction = store.connector().transaction

        def timed() -> Any:
            # The erasure's transaction, timed from entering to leaving (commit included).
            @asynccontextmanager
            async def block() -> AsyncIterator[Any]:
                t0 = time.perf_counter()
                async with transaction() as tx:
                    yield tx
                held.append(time.perf_counter() - t0)
            return block()

        connector = store.connector()
        connector.transaction = timed  # type: ignore[method-assign]
        store.connector = lambda: connector  # type: ignore[method-assign]
        t = time.perf_counter()
        report = await erase_subject(config, store, subject, erased_by="bench", via="cli", now=now)
        out.append(("erase (search, transaction, reclaim)", time.perf_counter() - t,
                    f"{report['counts']['events_anonymised']} event anonymised, reclaimed: {report['reclaimed']}"))
        out.append(("write lock held (the transaction)", held[0], "what the API's writes may wait"))
        return out
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--db", default=None, help="an empty PostgreSQL database (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        rows = asyncio.run(run(url, args.events))
    backend = "PostgreSQL" if args.db else "SQLite"
    print(f"\nSubject request on {backend}, {args.events:,} events "
          f"({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores)\n")
    print("| step | seconds | what |\n|---|---:|---|")
    for step, seconds, what in rows:
        print(f"| {step} | {seconds:.2f} | {what} |")


if __name__ == "__main__":
    main()
