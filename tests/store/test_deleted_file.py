"""The SQLite file deleted (or replaced) under a running notifier: said at once, nothing new accepted into it.

A process keeps writing to a file it holds open after it was deleted: SQLite does not
notice. Everything written from then on disappears when the process stops, and any
other process (a CLI command, a worker started later) opens a new, empty file at the
path. A ``202`` then would promise what cannot be kept: new events are refused with a
``503`` that says why, ``/healthz`` turns unhealthy, and the log names the file; the
events accepted before are still delivered.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog

from notifier.service import Service
from tests.conftest import webhook_config
from tests.console.helpers import serving
from tests.sink import Sink

EVENT = {"kind": "support_request", "site": "s", "message": "Un conseiller ?"}


@pytest.fixture
async def served(sink: Sink, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, Path, Service]]:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url), encoding="utf-8")
    db = tmp_path / "data" / "notifier.db"
    service = Service(config, f"sqlite:///{db}")
    await service.open()
    try:
        async with serving(service) as base:
            yield base, db, service
    finally:
        await service.close()


def remove(db: Path, how: str) -> None:
    if how == "deleted":
        for path in db.parent.glob(db.name + "*"):
            if path.is_file():
                path.unlink()
    else:  # a copy put in its place (a restore, a deployment that swaps the directory)
        shutil.copy(db, db.with_suffix(".copy"))
        db.with_suffix(".copy").replace(db)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_new_events_are_refused_once_the_file_is_gone(served: tuple[str, Path, Service], sink: Sink,
                                                            how: str) -> None:
    base, db, service = served
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.post("/v1/events", json={**EVENT, "conversation_id": "before"})).status_code == 202
        remove(db, how)
        with structlog.testing.capture_logs() as logged:
            refused = await client.post("/v1/events", json={**EVENT, "conversation_id": "after"})
            health = await client.get("/healthz")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == ("the database is unavailable, try again later: "
                                       "the database file was deleted or replaced while notifier runs")
    assert int(refused.headers["retry-after"]) >= 1
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert "deleted or replaced" in health.json()["error"]
    assert str(db) not in health.text  # /healthz needs no token: the path is for the log
    assert any(str(db) in str(line.get("error", "")) for line in logged), logged
    # What was accepted before is still delivered, and no empty file was made in its place.
    assert service.worker is not None and (await service.worker.drain()).sent == 1
    assert [r.json()["event"]["conversation_id"] for r in sink.received] == ["before"]
    assert db.exists() == (how == "replaced")
