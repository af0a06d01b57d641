"""Nothing lost: a worker killed with SIGKILL mid-delivery, then restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

#: Each test runs a worker in a separate process and kills it.
pytestmark = pytest.mark.slow


def _worker(config: Path, db: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFIER_LOG_FORMAT": "json"}
    return subprocess.Popen(
        [sys.executable, "-m", "notifier.cli", "worker", "--config", str(config), "--db", db,
         "--no-digests", "--log-level", "warning", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


async def test_sigkill_mid_delivery_loses_nothing(make_service: ServiceFactory, sink: Sink,
                                                  tmp_path: Path) -> None:
    sink.latency = 0.002  # a remote that takes a moment, so the kill lands mid-flight
    db = f"sqlite:///{tmp_path}/crash.db"
    service = await make_service(webhook_config(sink.url, dedup="{window: 0s}"), db=db)
    events = [Event.model_validate({"kind": "support_request", "site": "s", "conversation_id": f"c{i}",
                                    "id": f"ev-{i}", "message": f"help {i}"}) for i in range(1000)]
    for start in range(0, 1000, 100):
        await service.accept(events[start:start + 100])
    planned = {d.id for d in await service.store.list_deliveries(limit=5000)}
    assert len(planned) == 1000

    worker = _worker(tmp_path / "channels.yaml", db)
    deadline = time.monotonic() + 60
    while len(sink.received) < 300:
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        assert time.monotonic() < deadline, f"worker delivered only {len(sink.received)}"
        await sink.wait_for(len(sink.received) + 1, timeout=30)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    received_before = sink.keys()
    marked_sent = {d.id for d in await service.store.list_deliveries(status="sent", limit=5000)}
    assert marked_sent <= received_before, "a delivery was marked sent that the sink never received"
    assert len(received_before) < 1000, "the kill came too late to test anything"

    again = _worker(tmp_path / "channels.yaml", db, "--burst", "--timeout", "120")
    _, err = again.communicate(timeout=180)
    assert again.returncode == 0, err.decode()

    assert planned <= sink.keys(), f"{len(planned - sink.keys())} events never reached the sink"
    statuses = await service.store.count_deliveries()
    assert statuses == {"sent": 1000}


async def test_sigterm_finishes_or_releases_in_flight_sends(make_service: ServiceFactory, sink: Sink,
                                                           tmp_path: Path) -> None:
    sink.latency = 0.05
    db = f"sqlite:///{tmp_path}/term.db"
    service = await make_service(webhook_config(sink.url, dedup="{window: 0s}"), db=db)
    events = [Event.model_validate({"kind": "support_request", "site": "s", "conversation_id": f"t{i}",
                                    "id": f"term-{i}", "message": "help"}) for i in range(200)]
    await service.accept(events)

    worker = _worker(tmp_path / "channels.yaml", db)
    await sink.wait_for(5, timeout=30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0

    counts = await service.store.count_deliveries()
    assert "claimed" not in counts, f"claims left behind after SIGTERM: {counts}"
    marked_sent = {d.id for d in await service.store.list_deliveries(status="sent", limit=5000)}
    assert marked_sent <= sink.keys()
    assert counts.get("sent", 0) + counts.get("pending", 0) == 200
