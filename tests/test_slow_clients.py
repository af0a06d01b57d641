"""Slow clients cannot starve the API: read deadlines and a connection cap (slowloris).

A real ``notifier serve`` process faces a few hundred connections over loopback that
trickle their headers or their body a byte at a time and reconnect as soon as they are
dropped, as an attacker would. Meanwhile ordinary clients post events: each must get its
202 within a second, and the events must reach the webhook. Once with the usual file
limit, once with the process's ``RLIMIT_NOFILE`` lowered below the number of attackers.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import webhook_config
from tests.sink import Sink, free_port

pytestmark = pytest.mark.slow

#: Short deadlines so the test sees them expire (the defaults are 10 s and 30 s).
TIMEOUT = 1.5


async def _under_attack(port: int, sink: Sink, slow_headers: int, slow_bodies: int,
                        posts: int = 8) -> tuple[dict[str, Any], list[float]]:
    # The slow clients run in a process of their own, so that their work does not delay
    # the measuring client's event loop (only the server's behaviour is measured).
    attacker = subprocess.Popen(
        [sys.executable, "-m", "tests.slowloris", str(port), str(slow_headers), str(slow_bodies)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    latencies: list[float] = []
    try:
        assert attacker.stdout is not None
        ready = await asyncio.to_thread(attacker.stdout.readline)  # every slow client is connected
        assert ready.strip() == b"ready", (ready, attacker.stderr.read() if attacker.stderr else b"")
        # Post through the attack until the deadlines have expired at least once.
        for i in range(posts):
            async with httpx.AsyncClient(timeout=10) as client:  # a new connection each time
                started = time.monotonic()
                r = await client.post(f"http://127.0.0.1:{port}/v1/events",
                                      json={"kind": "support_request", "site": "s", "conversation_id": f"c{i}",
                                            "id": f"ok-{i}", "message": "help"})
                latencies.append(time.monotonic() - started)
                assert r.status_code == 202, r.text
            await asyncio.sleep(TIMEOUT / 4)  # spread the posts over the slow clients' life
    finally:
        attacker.send_signal(signal.SIGTERM)
        out, _err = await asyncio.to_thread(attacker.communicate, timeout=30)
    attack: dict[str, Any] = orjson.loads(out)
    await sink.wait_for(posts, timeout=30)
    assert {r.json()["event"]["id"] for r in sink.received} == {f"ok-{i}" for i in range(posts)}
    return attack, latencies


def _serve(tmp_path: Path, sink: Sink, port: int, *extra: str, nofile: int | None = None) -> subprocess.Popen[bytes]:
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url, dedup="{window: 0s}"), encoding="utf-8")

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--db",
         f"sqlite:///{tmp_path}/n.db", "--port", str(port), "--header-timeout", str(TIMEOUT),
         "--body-timeout", str(TIMEOUT), "--log-level", "warning", *extra],
        env={**os.environ, "NOTIFIER_LOG_FORMAT": "json"}, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=limit)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "serve did not start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    proc.terminate()
    try:
        assert proc.wait(30) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_slow_headers_and_bodies_do_not_starve_the_api(sink: Sink, tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, sink, port)
    try:
        attack, latencies = await _under_attack(port, sink, slow_headers=300, slow_bodies=100)
        assert max(latencies) < 1.0, f"a normal post waited {max(latencies):.2f} s: {latencies}"
        # Every slow connection was dropped after its deadline, and told why when it could be.
        assert attack["dropped"] >= 400, attack
        assert attack["longest"] < TIMEOUT + 3.0, f"a slow client was held {attack['longest']:.1f} s"
        assert attack["timeouts_answered"] >= 300, attack
    finally:
        _stop(proc, tmp_path)


async def test_a_low_file_limit_still_serves_and_delivers(sink: Sink, tmp_path: Path) -> None:
    # 256 descriptors for 400 attackers: without a cap, accept() fails with EMFILE and the
    # API stops answering; the worker can no longer open a connection to the webhook.
    port = free_port()
    proc = _serve(tmp_path, sink, port, nofile=256)
    try:
        attack, latencies = await _under_attack(port, sink, slow_headers=300, slow_bodies=100)
        assert max(latencies) < 1.0, f"a normal post waited {max(latencies):.2f} s: {latencies}"
        assert attack["dropped"] >= 400, attack
    finally:
        _stop(proc, tmp_path)
