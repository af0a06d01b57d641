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
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg

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
        "transcript": [{"role": "user", "text": f"{OLD[4]} {i}"}, {"role": "assistant", "text": "Je transmets."}],
    })


def recent_event() -> Event:
    return Event.model_validate({
        "kind": "support_request", "site": "shop.example.com", "conversation_id": "conv-recent",
        "message": RECENT[2], "user": {"name": RECENT[0], "email": RECENT[1], "consent": True}})


def purge(config: Path, db: str) -> str:
    """``notifier privacy purge`` in a process of its own; its output."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from notifier.cli import main; sys.exit(main())",
                           "privacy", "purge", "--config", str(config), "--db", db],
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

    out = purge(config, f"sqlite:///{path}")
    assert out.startswith("removed 5 events, 5 deliveries, 5 attempts"), out

    files = [p.name for p in sqlite_files(path)]
    assert "notifier.db" in files
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
