"""The SQLite write-ahead log stays bounded under a sustained burst and empties once idle.

A short version of ``bench/wal.py`` (which posts at the API's full batch rate for 60 s):
here a few seconds of back-to-back batches through the store, with a small threshold.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from notifier.core.events import Event
from notifier.service import Service
from notifier.store.sqlite import SqliteStore
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
