"""Every core: ``serve --workers N`` beside the API, partitioned claims (PostgreSQL), a dead share taken over.

Real processes on SQLite and PostgreSQL, a real webhook sink in its own process; each
test waits on the database's counts with a generous deadline.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from notifier.store.partition import shard_of
from tests.scale.conftest import Processes, sink_stats, wait_http
from tests.sink import free_port

CONFIG = """
version: 1
defaults: {{timezone: UTC, dedup: {{window: 0s}}, retry: {{attempts: 5, backoff: 100ms}}}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", concurrency: 8, timeout: 10s}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def batch(tag: str, n: int) -> list[dict[str, object]]:
    return [{"id": f"{tag}-{i}", "kind": "support_request", "site": "shop.example.com",
             "conversation_id": f"{tag}-{i}", "message": "Je voudrais parler à un conseiller"}
            for i in range(n)]


def counts(db: str) -> dict[str, int]:
    query = "SELECT status, count(*) FROM deliveries GROUP BY status"
    if db.startswith("sqlite:"):
        with sqlite3.connect(db.split("sqlite:///", 1)[1]) as conn:
            return dict(conn.execute(query).fetchall())
    with psycopg.connect(db) as conn:
        return dict(conn.execute(query).fetchall())  # type: ignore[arg-type]


def wait_all_sent(db: str, n: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while (now := counts(db)).get("sent", 0) < n:
        assert time.monotonic() < deadline, f"not all delivered in {timeout}s: {now}"
        time.sleep(0.1)


def children(pid: int) -> dict[int, str]:
    """The child processes of ``pid`` and their command lines (Linux /proc)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def post(port: int, events: list[dict[str, object]]) -> list[str]:
    """Post in batches of 100; the ids of the deliveries the API planned."""
    ids = []
    for i in range(0, len(events), 100):
        r = httpx.post(f"http://127.0.0.1:{port}/v1/events", json=events[i:i + 100], timeout=60)
        assert r.status_code == 202, r.text
        ids += [d["id"] for e in r.json()["events"] for d in e["deliveries"]]
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notifier.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_serve_with_three_workers_and_two_apis_delivers_each_once_and_restarts_a_killed_worker(
        db: str, processes: Processes, tmp_path: Path) -> None:
    sink = processes.sink()
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=sink))
    port = free_port()
    serve = processes.spawn("serve", "serve", "--workers", "3", "--api-processes", "2", "--config", str(config),
                            "--db", db, "--port", str(port), "--log-level", "warning")
    wait_http(f"http://127.0.0.1:{port}/healthz", serve, lambda: processes.log("serve"))
    deadline = time.monotonic() + 30
    while len(kids := children(serve.pid)) < 3:
        assert time.monotonic() < deadline, processes.log("serve")
        time.sleep(0.05)
    workers = {pid: c for pid, c in kids.items() if " worker " in c}
    shares = sorted(c.split("--partition ")[1].split()[0] for c in workers.values() if "--partition" in c)
    # PostgreSQL: each worker claims its own share first. SQLite: each claims whatever is due
    # first (its one write lock makes claims take turns anyway).
    assert shares == ([] if db.startswith("sqlite") else ["1/3", "2/3"]) and len(workers) == 2
    # The second API process answers on the same port: it inherited the listening socket.
    assert len([c for c in kids.values() if " serve --no-worker " in c and "--listen-fd" in c]) == 1

    planned = post(port, batch("a", 150))
    wait_all_sent(db, 150)
    # A worker process killed outright is started again, and the work goes on.
    victim = min(workers)
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    deadline = time.monotonic() + 30
    # Started again with the same command (the same share): two workers beside serve's own.
    while sorted(c for pid, c in children(serve.pid).items() if " worker " in c and pid != victim) \
            != sorted(workers.values()):
        assert time.monotonic() < deadline, f"not restarted: {processes.log('serve')}"
        time.sleep(0.05)
    planned += post(port, batch("b", 150))
    wait_all_sent(db, 300)

    received = Counter(str(key) for key, _, _ in sink_stats(sink))
    assert set(received) == set(planned)
    # The one killed could have held deliveries in flight (at-least-once); nobody else sends twice.
    assert sum(received.values()) - len(received) <= 8
    assert counts(db) == {"sent": 300}

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(30) == 0, processes.log("serve")
    assert not [pid for pid in kids if Path(f"/proc/{pid}").exists()], "worker processes left running"


def test_every_process_of_a_killed_serve_stops_by_itself(processes: Processes, tmp_path: Path) -> None:
    # SIGKILL leaves serve no chance to stop its children: each must notice and stop, the
    # extra API process too, or it would go on answering on the port with nobody to stop it.
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=processes.sink()))
    port = free_port()
    serve = processes.spawn("serve", "serve", "--workers", "2", "--api-processes", "2", "--config", str(config),
                            "--db", f"sqlite:///{tmp_path / 'notifier.db'}", "--port", str(port),
                            "--log-level", "warning")
    wait_http(f"http://127.0.0.1:{port}/healthz", serve, lambda: processes.log("serve"))
    deadline = time.monotonic() + 30
    while len(kids := children(serve.pid)) < 2:
        assert time.monotonic() < deadline, processes.log("serve")
        time.sleep(0.05)
    assert sorted("--listen-fd" in c for c in kids.values()) == [False, True]  # a worker and an API process
    serve.send_signal(signal.SIGKILL)
    serve.wait(10)
    deadline = time.monotonic() + 30
    while left := [pid for pid in kids if Path(f"/proc/{pid}").exists()
                   and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"]:
        assert time.monotonic() < deadline, f"still running after serve was killed: {left}"
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):  # nobody answers on the port any more
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_a_dead_workers_share_is_taken_over_by_the_others(processes: Processes, tmp_path: Path) -> None:
    # On SQLite here; the claim that takes an overdue share over is checked on both
    # backends by tests/store/test_partitions.py.
    db = f"sqlite:///{tmp_path / 'notifier.db'}"
    sink = processes.sink()
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=sink))
    _, port = processes.api("api", config, db)
    # Two shares; the worker of share 1/2 dies before any work comes (SIGKILL, nothing released).
    alive = processes.worker("w0", config, db, "--partition", "0/2", "--lease", "2s", "--no-digests")
    dead = processes.worker("w1", config, db, "--partition", "1/2", "--lease", "2s", "--no-digests")
    dead.send_signal(signal.SIGKILL)
    dead.wait(10)

    planned = post(port, batch("t", 100))
    theirs = [d for d in planned if shard_of(d, 2) == 1]
    assert theirs
    wait_all_sent(db, 100, timeout=60)
    assert alive.poll() is None, processes.log("w0")
    assert Counter(str(key) for key, _, _ in sink_stats(sink)) == Counter(planned)
