"""Signals on real processes: SIGHUP reloads ``serve`` and ``worker``, SIGTERM drains.

Each test starts ``notifier serve`` or ``notifier worker`` as a child process, rewrites
its ``channels.yaml`` and sends it a real SIGHUP: a valid file moves deliveries and digests
to a new webhook (and adds a digest), a broken one is refused with its line and column
logged while the running configuration keeps delivering.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink, free_port

pytestmark = pytest.mark.slow

#: A digest sent every hour: on reload the latest hour is due at once (a missed period goes out once).
HOURLY = """digests:
  - name: hourly
    schedule: "0 * * * *"
    to: [hook]
"""

#: A route naming a channel that does not exist: refused with its line and column.
BROKEN = """version: 1
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/never"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hoook]
"""


@pytest.fixture
def second_sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


def _start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFIER_LOG_FORMAT": "json"}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "notifier.cli", *args, "--log-level", "info"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def _installed_hours_ago(db: Path) -> None:
    """Make ``db`` a database created two hours ago: its latest hourly digest is then due
    (a brand-new install sends none for a period that ended before it existed)."""
    from notifier.cli import main

    if not db.exists():
        assert main(["db", "upgrade", "--db", f"sqlite:///{db}"]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_migrations SET applied_at = applied_at - 7200")


def _wait(condition: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path,
          timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"process exited ({proc.returncode}) waiting for {what}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.05)


def _count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text)


def _support(eid: str) -> dict[str, str]:
    return {"kind": "support_request", "site": "s", "conversation_id": eid, "id": eid, "message": "help"}


def _hangup(proc: subprocess.Popen[bytes], log: Path, marker: str) -> None:
    """SIGHUP, then wait until the process logged ``marker`` once more."""
    before = _count(log, marker)
    proc.send_signal(signal.SIGHUP)
    _wait(lambda: _count(log, marker) > before, marker, proc, log)


def _digests(sink: Sink) -> list[str]:
    return [r.json()["report"] for r in sink.received if "report" in r.json()]


def _events(sink: Sink) -> list[str]:
    return [r.json()["event"]["id"] for r in sink.received if "event" in r.json()]


def _assert_refused_with_position(log: Path, config: Path) -> None:
    # Each problem is logged as `channels.yaml:LINE:COL  routes[0].to[0]: unknown channel 'hoook' ...`.
    text = log.read_text(errors="replace")
    assert re.search(re.escape(config.name) + r":7:\d+ .*hoook", text), text


def test_serve_reloads_on_sighup_and_refuses_a_broken_file(sink: Sink, second_sink: Sink, tmp_path: Path) -> None:
    config = tmp_path / "channels.yaml"
    # The first webhook answers in 2 s (a send under way during the reload): its timeout
    # must be well above that, or a busy machine turns the slow answer into a retry.
    config.write_text(webhook_config(sink.url).replace("timeout: 2s", "timeout: 20s"), encoding="utf-8")
    log, port = tmp_path / "serve.log", free_port()
    _installed_hours_ago(tmp_path / "n.db")
    proc = _start("serve", "--config", str(config), "--db", f"sqlite:///{tmp_path}/n.db",
                  "--port", str(port), log=log)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(up, "the API", proc, log)
        # A send under way when the reload lands finishes on the old channel.
        sink.latency = 2.0
        assert httpx.post(f"{base}/v1/events", json=_support("before"), timeout=10).status_code == 202
        _wait(lambda: len(sink.received) >= 1, "the first send", proc, log)

        config.write_text(webhook_config(second_sink.url) + HOURLY, encoding="utf-8")
        _hangup(proc, log, "configuration reloaded")
        assert proc.poll() is None, "SIGHUP stopped the server"
        _wait(lambda: bool(_digests(second_sink)), "the new digest at the new webhook", proc, log)

        assert httpx.post(f"{base}/v1/events", json=_support("after"), timeout=10).status_code == 202
        _wait(lambda: "after" in _events(second_sink), "the event at the new webhook", proc, log)
        _wait(lambda: httpx.get(f"{base}/v1/events/before", timeout=10).json()["deliveries"][0]["status"] == "sent",
              "the in-flight send recorded", proc, log)
        before = httpx.get(f"{base}/v1/events/before", timeout=10).json()["deliveries"]
        assert before[0]["attempts"] == 1, f"the send under way was cut by the reload: {before}"

        config.write_text(BROKEN, encoding="utf-8")
        _hangup(proc, log, "configuration not reloaded")
        _assert_refused_with_position(log, config)
        assert httpx.post(f"{base}/v1/events", json=_support("kept"), timeout=10).status_code == 202
        _wait(lambda: "kept" in _events(second_sink), "delivery on the kept configuration", proc, log)
        assert _events(sink) == ["before"], "the old webhook got events after the reload"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_worker_reloads_channels_and_digests_on_sighup(make_service: ServiceFactory, sink: Sink,
                                                             second_sink: Sink, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/w.db"
    service = await make_service(webhook_config(sink.url), db=db)  # writes tmp_path/channels.yaml
    _installed_hours_ago(tmp_path / "w.db")
    config = tmp_path / "channels.yaml"
    log = tmp_path / "worker.log"
    proc = _start("worker", "--config", str(config), "--db", db, log=log)
    try:
        _wait(lambda: _count(log, "worker started") > 0, "the worker", proc, log)
        await service.accept([Event.model_validate(_support("w-before"))])
        _wait(lambda: "w-before" in _events(sink), "the first event", proc, log)

        # New webhook and a new digest: before, the scheduler kept its closed channels and old digests.
        config.write_text(webhook_config(second_sink.url) + HOURLY, encoding="utf-8")
        _hangup(proc, log, "configuration reloaded")
        _wait(lambda: bool(_digests(second_sink)), "the new digest at the new webhook", proc, log)
        await service.accept([Event.model_validate(_support("w-after"))])
        _wait(lambda: "w-after" in _events(second_sink), "the event at the new webhook", proc, log)
        assert "client has been closed" not in log.read_text()

        config.write_text(BROKEN, encoding="utf-8")
        _hangup(proc, log, "configuration not reloaded")
        _assert_refused_with_position(log, config)
        await service.accept([Event.model_validate(_support("w-kept"))])
        _wait(lambda: "w-kept" in _events(second_sink), "delivery on the kept configuration", proc, log)
        assert _events(sink) == ["w-before"]
        assert not _digests(sink)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        counts = await service.store.count_deliveries()
        assert counts == {"sent": 3}, counts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
