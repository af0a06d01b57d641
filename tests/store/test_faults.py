"""Store faults are answers, not crashes: a full disk, a lock held elsewhere, a read-only file.

Each test runs a real ``notifier serve`` process on a real SQLite file: on a small tmpfs
mounted by the test (skipped with the reason where mounting is not permitted), or beside
another process holding the write lock. The API must answer 503 with ``Retry-After`` and a
JSON error, store nothing of what it refused, keep answering ``/healthz``, and deliver
everything it accepted once the fault is gone, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import webhook_config
from tests.scale.conftest import Processes, wait_http
from tests.sink import Sink, free_port

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def mounted(where: Path, *options: str, kind: str = "tmpfs", source: str = "tmpfs") -> Iterator[Path]:
    """``mount`` for the test's duration; skips the test when this machine does not allow it."""
    where.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", kind, *options, source, str(where)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no `mount` command: cannot make a small filesystem for this test")
    if done.returncode != 0:
        pytest.skip(f"mounting a {kind} is not permitted here ({done.stderr.strip()}): "
                    "run the tests as root with CAP_SYS_ADMIN to test disk faults")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(path: Path) -> None:
    """Write ``path`` until the filesystem has no space left, not even one page."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def batch(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{i}", "kind": "support_request", "site": "s", "conversation_id": f"{tag}-{i}",
             "message": "J'ai besoin d'aide " + "x" * 300} for i in range(n)]


def serve(processes: Processes, config: Path, db: str) -> tuple[subprocess.Popen[bytes], int]:
    """``notifier serve`` (API and worker); the process and its port once it answers."""
    port = free_port()
    proc = processes.spawn("serve", "serve", "--config", str(config), "--db", db, "--port", str(port),
                           "--log-level", "warning")
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, lambda: processes.log("serve"))
    return proc, port


def serve_webhook(processes: Processes, tmp_path: Path, sink: Sink, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    """:func:`serve` with a webhook channel to ``sink`` (no dedup window) and its store at ``db``."""
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url, dedup="{window: 0s}"))
    return serve(processes, config, f"sqlite:///{db}")


async def wait_until_sent(http: httpx.AsyncClient, ids: set[str], sink: Sink, timeout: float = 60) -> None:
    """Wait until every event of ``ids`` reached the sink and is recorded as sent."""
    deadline = time.monotonic() + timeout
    while True:
        got = {r.json().get("event", {}).get("id") for r in sink.received}
        if ids <= got:
            body = (await http.get("/v1/deliveries", params={"limit": 10_000})).json()
            statuses = {d["status"] for d in body["deliveries"]}
            if statuses <= {"sent"}:
                return
        assert time.monotonic() < deadline, f"{len(ids - got)} of {len(ids)} events not delivered"
        await asyncio.sleep(0.1)


async def test_a_full_disk_answers_503_and_delivery_resumes_when_space_returns(
        tmp_path: Path, processes: Processes) -> None:
    with mounted(tmp_path / "disk", "-o", "size=6m") as disk, Sink() as sink:
        sink.latency = 0.02  # a remote that takes a moment: a backlog waits when the disk fills
        config = tmp_path / "channels.yaml"
        config.write_text(webhook_config(sink.url, dedup="{window: 0s}").replace(
            "timeout: 2s}", "timeout: 2s, concurrency: 2}"))
        proc, port = serve(processes, config, f"sqlite:///{disk}/notifier.db")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert (await http.post("/v1/events", json=batch("before", 5))).status_code == 202
            fill(disk / "filler")
            accepted: set[str] = {e["id"] for e in batch("before", 5)}
            refused: httpx.Response | None = None
            for n in range(400):
                r = await http.post("/v1/events", json=batch(f"full{n}", 20))
                if r.status_code != 202:
                    refused, refused_tag = r, f"full{n}"
                    break
                accepted |= {e["id"] for e in batch(f"full{n}", 20)}
            assert refused is not None, "the disk never filled up"
            # An answer, not a crash: 503, JSON saying why, and when to try again.
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/json"
            assert "disk is full" in refused.json()["error"]
            assert int(refused.headers["retry-after"]) >= 1
            # Nothing of the refused batch was stored; reading and health still answer.
            for e in batch(refused_tag, 20):
                assert (await http.get(f"/v1/events/{e['id']}")).status_code == 404
            assert (await http.get("/healthz")).status_code == 200
            assert proc.poll() is None, processes.log("serve")

            (disk / "filler").unlink()
            # Space is back: the refused batch is accepted whole, and everything accepted
            # before, during and after is delivered by the same process.
            r = await http.post("/v1/events", json=batch(refused_tag, 20))
            assert r.status_code == 202 and not any(item["duplicate"] for item in r.json()["events"])
            accepted |= {e["id"] for e in batch(refused_tag, 20)}
            await wait_until_sent(http, accepted, sink)
            assert proc.poll() is None, processes.log("serve")


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process (a CLI command, a backup…) holding SQLite's write lock for ``seconds``."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "c.execute('UPDATE deliveries SET updated_at = updated_at WHERE 0')\n"
            "print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "c.execute('COMMIT')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


async def test_a_write_lock_held_by_another_process_does_not_freeze_the_api(
        tmp_path: Path, processes: Processes) -> None:
    with Sink() as sink:
        db = tmp_path / "notifier.db"
        proc, port = serve_webhook(processes, tmp_path, sink, db)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert (await http.post("/v1/events", json=batch("before", 3))).status_code == 202
            await wait_until_sent(http, {e["id"] for e in batch("before", 3)}, sink)
            holder = hold_write_lock(db, 4.0)
            try:
                # A post waits for the lock (in the store's thread, not on the event loop)...
                posting = asyncio.create_task(http.post("/v1/events", json=batch("during", 10)))
                await asyncio.sleep(0.2)
                assert not posting.done()
                # ...while /healthz and reads answer at once, again and again.
                slowest = 0.0
                for _ in range(10):
                    t0 = time.perf_counter()
                    r = await http.get("/healthz")
                    slowest = max(slowest, time.perf_counter() - t0)
                    assert r.status_code == 200
                    assert (await http.get("/v1/events/before-0")).status_code == 200
                # Generous for a loaded machine; bench/faults.py measures the real figure.
                assert slowest < 1.0, f"/healthz took {slowest:.3f} s while the lock was held"
                r = await posting
                assert holder.poll() is None, "the post was answered only after the lock was released"
            finally:
                holder.wait(30)
            # The lock outlived the store's patience: a 503 saying so, with Retry-After.
            assert r.status_code == 503, r.text
            assert "locked by another process" in r.json()["error"]
            assert r.headers["retry-after"] == "1"
            # Once released, the client's retry goes through and is delivered.
            r = await http.post("/v1/events", json=batch("during", 10))
            assert r.status_code == 202 and not any(item["duplicate"] for item in r.json()["events"])
            await wait_until_sent(http, {e["id"] for e in batch("before", 3) + batch("during", 10)}, sink)
            assert proc.poll() is None


@contextlib.contextmanager
def ext4_on_loop(where: Path, image: Path) -> Iterator[Path]:
    """A small ext4 filesystem on a loop device that turns read-only on its first error."""
    try:
        subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", str(image)], check=True, capture_output=True)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make an ext4 image here ({exc}): mkfs.ext4 (e2fsprogs) is needed")
    with mounted(where, "-o", "loop,errors=remount-ro", kind="ext4", source=str(image)) as disk:
        yield disk


def turn_read_only(disk: Path) -> None:
    """What the kernel does to ext4 after an I/O error (``errors=remount-ro``), open files or not."""
    device = subprocess.run(["findmnt", "-no", "SOURCE", str(disk)], capture_output=True, text=True).stdout.strip()
    trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
    if not trigger.exists():
        pytest.skip(f"{trigger} is missing: this kernel cannot simulate a filesystem error")
    trigger.write_text("notifier test: simulated error")


async def test_a_filesystem_turned_read_only_answers_503_and_reads_still_work(
        tmp_path: Path, processes: Processes) -> None:
    with ext4_on_loop(tmp_path / "disk", tmp_path / "disk.img") as disk, Sink() as sink:
        proc, port = serve_webhook(processes, tmp_path, sink, disk / "notifier.db")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                assert (await http.post("/v1/events", json=batch("before", 3))).status_code == 202
                await wait_until_sent(http, {e["id"] for e in batch("before", 3)}, sink)
                turn_read_only(disk)
                r = await http.post("/v1/events", json=batch("after", 10))
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == "application/json"
                assert int(r.headers["retry-after"]) >= 1
                # What was stored can still be read, and the process answers and lives on.
                assert (await http.get("/v1/events/before-0")).status_code == 200
                assert (await http.get("/v1/events/after-0")).status_code == 404
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.post("/v1/events", json=batch("after", 10))).status_code == 503
                assert proc.poll() is None, processes.log("serve")
        finally:
            processes.kill_all()  # before the filesystem goes away under it


#: Another process taking the write lock again and again (a worker of its own, a CLI
#: command): the API's accepts keep going from its loop to its store's thread and back.
FLICKERING_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
print("locking", flush=True)
while True:
    c.execute("BEGIN IMMEDIATE")
    time.sleep(0.03)
    c.execute("COMMIT")
    time.sleep(0.01)
"""


async def test_a_sigterm_during_accepts_that_wait_for_a_lock_keeps_every_202(
        tmp_path: Path, processes: Processes) -> None:
    with Sink() as sink:
        db = tmp_path / "notifier.db"
        proc, port = serve_webhook(processes, tmp_path, sink, db)
        holder = subprocess.Popen([sys.executable, "-c", FLICKERING_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
        answers: dict[str, int | None] = {}  # batch -> status (None: no answer, the server went away)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locking"

            async def post(client: int) -> None:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                    for n in range(10_000):
                        tag = f"c{client}-b{n}"
                        try:
                            answers[tag] = (await http.post("/v1/events", json=batch(tag, 20))).status_code
                        except httpx.TransportError:
                            answers[tag] = None
                            return

            posting = [asyncio.create_task(post(i)) for i in range(4)]
            deadline = time.monotonic() + 60
            while sum(status == 202 for status in answers.values()) < 20:
                assert time.monotonic() < deadline, f"too few batches accepted: {answers}"
                assert proc.poll() is None, processes.log("serve")
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*posting), 60)
            assert await asyncio.to_thread(proc.wait, 60) in (0, -signal.SIGTERM), processes.log("serve")
        finally:
            holder.kill()
            holder.wait()

    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for tag, status in answers.items():
            ids = [e["id"] for e in batch(tag, 20)]
            stored = c.execute(f"SELECT count(*) FROM events WHERE id IN ({','.join('?' * len(ids))})",
                               ids).fetchone()[0]
            assert stored in (0, 20), f"batch {tag} ({status}) is half stored: {stored} of 20"
            if status == 202:
                assert stored == 20, f"batch {tag} was answered 202 and is not stored"
            elif status is not None:
                assert status == 503, f"batch {tag} was answered {status}"
    finally:
        c.close()
