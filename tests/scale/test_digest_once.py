"""Each digest period goes out once, however many processes claim it at the same moment."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.scale.conftest import Processes, sink_stats

CONFIG = """
version: 1
defaults: {{timezone: UTC, locale: en}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", timeout: 10s}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [hook]
digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [hook]
"""


async def test_a_period_claimed_by_many_processes_is_sent_once(pg_url: str, processes: Processes,
                                                             tmp_path: Path) -> None:
    sink = processes.sink()
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=sink))
    subprocess.run([sys.executable, "-m", "notifier.cli", "db", "upgrade", "--db", pg_url], check=True,
                   capture_output=True)
    # Two long-running workers (their schedulers claim the due period as they start) and
    # four `notifier digest --send` started together: six processes race for one period.
    workers = [processes.worker(f"worker{i}", config, pg_url) for i in range(2)]
    senders = [processes.spawn(f"send{i}", "digest", "--send", "--name", "daily", "--config", str(config),
                               "--db", pg_url) for i in range(4)]
    codes = [p.wait(60) for p in senders]
    assert codes.count(0) <= 1, [processes.log(f"send{i}") for i in range(4)]
    for i, code in enumerate(codes):
        if code != 0:
            assert "already sent" in processes.log(f"send{i}"), processes.log(f"send{i}")

    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(pg_url) as conn:
            runs = conn.execute("SELECT status, claimed_by FROM digest_runs WHERE digest = 'daily'").fetchall()
        if runs and runs[0][0] != "running":
            break
        assert time.monotonic() < deadline, f"the digest was not finished: {runs}"
        await asyncio.sleep(0.1)
    for w in workers:
        w.send_signal(signal.SIGTERM)
    assert [w.wait(30) for w in workers] == [0, 0]

    assert len(runs) == 1 and runs[0][0] == "sent", runs
    reports = [key for key, _, event_id in sink_stats(sink) if event_id is None]
    assert len(reports) == 1, f"the digest was sent {len(reports)} times"
