"""The SQLite write-ahead log stays bounded under a sustained burst and empties once idle.

A short version of ``bench/wal.py`` (which posts at the API's full batch rate for 60 s):
here a few seconds of back-to-back batches through the store, with a small threshold.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from notifier.core.events import Event
from notifier.service import Service
from notifier.store.sqlite import SqliteStore
from notifier.store.sqlite_wal import Checkpointer
from tests.conftest import webhook_config

MB = 1024 * 1024


def wal_size(db: Path) -> int:
    try:
        return os.stat(f"{db}-wal").st_size
    except FileNotFoundError:
        return 0


async def test_the_wal_stays_bounded_during_a_burst_and_empties_when_idle(tmp_path: Path) -> None:
    db = tmp_path / "notifier.db"
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config("http://127.0.0.1:9/hook", dedup="{window: 0s}"))
    service = Service(config, f"sqlite:///{db}")
    service.store = SqliteStore(f"sqlite:///{db}", wal_restart_above=MB, wal_idle_after=0.5)
    await service.store.open()
    try:
        peak, written, n = 0, 0, 0
        stop = time.monotonic() + 4
        while time.monotonic() < stop:
            await service.accept([Event.model_validate(
                {"id": f"e{n}-{i}", "kind": "support_request", "site": "s", "conversation_id": f"c{n}-{i}",
                 "message": "Bonjour, je voudrais parler à un conseiller " + "x" * 200}) for i in range(100)])
            # Readers, as the API has: a WAL frame a reader still needs cannot be overwritten.
            await service.store.count_deliveries()
            n += 1
            peak = max(peak, wal_size(db))
        written = db.stat().st_size + wal_size(db)
        # Far more was written than the log may hold: it started again from its beginning.
        assert written > 4 * MB, f"only {written} bytes written: the burst proves nothing"
        assert peak < 4 * MB, f"the WAL reached {peak / MB:.1f} MB (threshold 1 MB)"
        deadline = time.monotonic() + 30
        while wal_size(db) > 0:
            assert time.monotonic() < deadline, f"the WAL kept {wal_size(db)} bytes once idle"
            await asyncio.sleep(0.1)
    finally:
        await service.store.close()
    assert (await _count(db)) == n * 100


async def _count(db: Path) -> int:
    store = SqliteStore(f"sqlite:///{db}")
    await store.open()
    try:
        return sum((await store.count_deliveries()).values())
    finally:
        await store.close()


#: Another process reading all the while (a console page, a worker): its read transactions
#: each last a few milliseconds, with a moment between two.
READER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA busy_timeout=2000")
while True:
    c.execute("BEGIN")
    c.execute("SELECT count(*) FROM events").fetchone()
    time.sleep(0.02)
    c.execute("COMMIT")
    time.sleep(0.002)
"""


async def test_the_wal_stays_bounded_with_commits_on_the_loop_while_another_process_reads(tmp_path: Path) -> None:
    # `notifier serve` commits on its event loop (inline); the log's restart still waits
    # for a reader's transaction to end (in the writer thread), instead of giving up at every
    # commit while the log grows by everything written.
    db = tmp_path / "notifier.db"
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config("http://127.0.0.1:9/hook", dedup="{window: 0s}"))
    service = Service(config, f"sqlite:///{db}")
    # Above the size a restarted log is cut to (16 MB): below, every commit would restart it.
    limit = 17 * MB
    service.store = SqliteStore(f"sqlite:///{db}", wal_restart_above=limit, inline=True)
    await service.store.open()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db)])
    try:
        peak, n = 0, 0
        while n < 60:
            await service.accept([Event.model_validate(
                {"id": f"e{n}-{i}", "kind": "support_request", "site": "s", "conversation_id": f"c{n}-{i}",
                 "message": f"Bonjour {n}-{i} " + "x" * 16_000}) for i in range(100)])
            n += 1
            peak = max(peak, wal_size(db))
        assert reader.poll() is None, "the reader stopped: the test proves nothing"
        written = db.stat().st_size + wal_size(db)
        assert written > 3 * limit, f"only {written / MB:.1f} MB written: the burst proves nothing"
        assert peak < 2 * limit, f"the WAL reached {peak / MB:.1f} MB (threshold {limit / MB:.0f} MB)"
    finally:
        reader.kill()
        reader.wait()
        await service.store.close()
    assert (await _count(db)) == n * 100


def test_the_checkpointer_leaves_no_new_database_where_the_file_was_deleted(tmp_path: Path) -> None:
    # The file is deleted before the checkpointer's first look (it connects then): a new,
    # empty database left at the path would be what the next start opens, with nothing in it.
    db = tmp_path / "notifier.db"
    made = sqlite3.connect(db)
    made.execute("PRAGMA journal_mode=WAL")
    made.execute("CREATE TABLE events (id TEXT)")
    made.close()
    for path in tmp_path.glob("notifier.db*"):
        path.unlink()
    checkpointer = Checkpointer(str(db), every=0.005)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while checkpointer.ticks < 5:
            assert time.monotonic() < deadline, "the checkpointer never looked at the log"
            time.sleep(0.005)
    finally:
        checkpointer.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_giving_free_pages_back_commits_no_write_an_interrupted_caller_left_open(tmp_path: Path) -> None:
    """The steps that give free pages back run as scripts, which Python's sqlite3 starts by
    committing any open transaction: a write left half done (its caller gone) is rolled back
    instead, so no event is stored without the rest of its accept."""
    from notifier.store.sqlite_wal import scrub, vacuum_step

    for step in (vacuum_step, lambda c: scrub(c, timeout=0.0)):
        path = tmp_path / f"vacuum-{id(step)}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE events (id TEXT PRIMARY KEY)")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events VALUES ('left-half-done')")
        step(conn)
        assert not conn.in_transaction
        other = sqlite3.connect(path)
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        other.close()
        conn.close()
