"""Proof that the retention purge leaves nothing behind, on the raw database files.

Events carrying distinctive strings (a name, an email, a phone number, a message, a
transcript turn) are accepted as if 100 days ago and delivered to a real webhook; a recent
event carries strings of its own. Before the purge the old strings are in the files (so
the search can find them); ``notifier privacy purge`` then runs in a process of its own
and exits; the SQLite main file, WAL and journal (or a ``pg_dump`` of the PostgreSQL
database, after its ``VACUUM``) no longer hold any old string, and still hold the recent ones.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from notifier.core.events import Event
from notifier.service import Service
from notifier.worker import utcnow
from tests.conftest import webhook_config
from tests.forensics import pg_dump_leftovers, sqlite_files, sqlite_leftovers
from tests.pgserver import PgServer
from tests.sink import Sink

OLD = ["Zéphyrine Oldcastle", "zephyrine.oldcastle.7q3@example.org", "+33 6 71 42 93 58",
       "colis-ancien-XJ4K9 jamais arrivé", "transcript-ancien-W2P8", "conv-ancienne-RT5"]
RECENT = ["Barnabé Freshwater", "barnabe.freshwater.k2m@example.org", "commande-recente-QL7Z3"]


def old_event(i: int) -> Event:
    return Event.model_validate({
        "kind": "support_request", "site": "shop.example.com", "conversation_id": f"{OLD[5]}-{i}",
        "message": f"{OLD[3]} (#{i})",
        "user": {"name": OLD[0], "email": OLD[1], "phone": OLD[2], "consent": True},
        # Long enough to fill pages of their own: the purge must give them back to the file system.
        "transcript": [{"role": "user", "text": f"{OLD[4]} {i} " + "Où est mon colis ? " * 400},
                       {"role": "assistant", "text": "Je transmets."}],
    })


def recent_event() -> Event:
    return Event.model_validate({
        "kind": "support_request", "site": "shop.example.com", "conversation_id": "conv-recent",
        "message": RECENT[2], "user": {"name": RECENT[0], "email": RECENT[1], "consent": True}})


def purge(config: Path, db: str, *flags: str) -> str:
    """``notifier privacy purge`` in a process of its own; its output."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from notifier.cli import main; sys.exit(main())",
                           "privacy", "purge", "--config", str(config), "--db", db, *flags],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def deliver_old_and_recent(tmp_path: Path, sink: Sink, db: str) -> Path:
    """Deliver the old events (as 100 days ago) and the recent one, then stop; the config's path."""
    config = tmp_path / "channels.yaml"
    # Cases kept as long as events here: the case of an old conversation (it names it) goes too.
    text = webhook_config(sink.url).replace("defaults:\n", "defaults:\n  retention: {events: 90d, cases: 90d}\n", 1)
    config.write_text(text + "fallback: [hook]\n", encoding="utf-8")
    clock = [utcnow() - timedelta(days=100)]
    service = Service(config, db, inbox_dir=tmp_path / "inbox", clock=lambda: clock[0])
    await service.open()
    await service.accept([old_event(i) for i in range(5)])
    assert service.worker is not None
    assert (await service.worker.drain()).sent == 5
    clock[0] = utcnow()
    await service.accept([recent_event()])
    assert (await service.worker.drain()).sent == 1
    assert OLD[1] in sink.received[0].body.decode()  # delivered with the person's details
    await service.close()
    return config


async def test_purged_events_leave_no_trace_in_the_sqlite_files(sink: Sink, tmp_path: Path) -> None:
    path = tmp_path / "notifier.db"
    config = await deliver_old_and_recent(tmp_path, sink, f"sqlite:///{path}")
    assert set(sqlite_leftovers(path, OLD)) == set(OLD)  # there before: the search can find them
    counted = purge(config, f"sqlite:///{path}", "--dry-run")
    assert counted.startswith("would remove 5 events, 5 deliveries"), counted
    assert set(sqlite_leftovers(path, OLD)) == set(OLD)  # a dry run removes nothing

    out = purge(config, f"sqlite:///{path}")
    assert out.startswith("removed 5 events, 5 deliveries, 5 attempts"), out

    files = [p.name for p in sqlite_files(path)]
    assert "notifier.db" in files
    with sqlite3.connect(path) as conn:  # the freed pages were given back to the file system
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert sqlite_leftovers(path, OLD) == {}
    assert set(sqlite_leftovers(path, RECENT)) == set(RECENT)


async def test_purged_events_leave_no_trace_in_a_postgresql_dump(
        sink: Sink, tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.create_database()
    try:
        config = await deliver_old_and_recent(tmp_path, sink, url)
        assert pg_dump_leftovers(url, pg_server.bindir, OLD) == OLD

        out = purge(config, url)
        assert out.startswith("removed 5 events, 5 deliveries, 5 attempts"), out
        # The purge vacuumed the tables (statistics arrive within a second or so: polled).
        deadline = time.monotonic() + 30
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT count(*) FROM pg_stat_user_tables WHERE vacuum_count > 0"
                                   " AND relname IN ('events', 'deliveries', 'attempts')").fetchone()
                if (row and row[0] == 3) or time.monotonic() > deadline:
                    break
                conn.execute("SELECT pg_stat_clear_snapshot()")
                await asyncio.sleep(0.1)
            assert row is not None and row[0] == 3

        assert pg_dump_leftovers(url, pg_server.bindir, OLD) == []
        assert pg_dump_leftovers(url, pg_server.bindir, RECENT) == RECENT
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_three_worker_processes_purge_the_day_once(backend: str, sink: Sink, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    server: PgServer | None = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    db = server.create_database() if server else f"sqlite:///{tmp_path / 'notifier.db'}"
    config = await deliver_old_and_recent(tmp_path, sink, db)
    cmd = [sys.executable, "-c", "import sys; from notifier.cli import main; sys.exit(main())",
           "worker", "--config", str(config), "--db", db]
    env = {**os.environ, "NOTIFIER_LOG_FORMAT": "json"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        while True:  # every worker claims at start-up: wait for the day's purge to be recorded
            runs = await finished_runs(db)
            if runs or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        logs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert len(runs) == 1, runs
    removed = runs[0][1] if isinstance(runs[0][1], dict) else orjson.loads(runs[0][1])
    assert removed["removed"]["events"] == 5
    purging = [log for log in logs if '"retention purge"' in log]
    assert len(purging) == 1, logs
    if server:
        server.drop_database(db.rsplit("/", 1)[1])


async def finished_runs(db: str) -> list[tuple[Any, ...]]:
    """The purge runs recorded as done."""
    from notifier.store import store_for

    store = store_for(db)
    await store.open()
    try:
        rows = await store.connector().fetch_all("SELECT day, removed FROM purge_runs WHERE status = 'done'")
    finally:
        await store.close()
    return [(r["day"], r["removed"]) for r in rows]
