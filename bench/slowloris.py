"""How long an ordinary post waits while slow clients hold connections (slowloris).

    python bench/slowloris.py [--headers 1200] [--bodies 300] [--posts 60] [--nofile 1024]
                              [--header-timeout 10] [--body-timeout 30]

Starts ``notifier serve`` (with ``RLIMIT_NOFILE`` lowered to ``--nofile`` if given) on a
webhook sink, opens ``--headers`` connections that trickle their headers and ``--bodies``
that trickle their body (``tests/slowloris.py``, in a process of its own), then posts
``--posts`` events one by one, each on a new connection, and prints the latency of those
posts (median, 95th percentile, worst) and what the slow clients saw.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sink import Sink, free_port  # noqa: E402

CONFIG = """version: 1
defaults: {{timezone: UTC, dedup: {{window: 0s}}}}
channels:
  hook: {{type: webhook, url: "{url}"}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--headers", type=int, default=1200)
    parser.add_argument("--bodies", type=int, default=300)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--nofile", type=int, default=None)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=30.0)
    args = parser.parse_args()
    # The attacker needs a descriptor per slow connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.headers + args.bodies + 256)), hard))

    with tempfile.TemporaryDirectory() as tmp, Sink() as sink:
        config = Path(tmp) / "channels.yaml"
        config.write_text(CONFIG.format(url=sink.url), encoding="utf-8")
        port = free_port()

        def limit() -> None:
            if args.nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

        server = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--db",
             f"sqlite:///{tmp}/bench.db", "--port", str(port), "--log-level", "warning",
             "--header-timeout", str(args.header_timeout), "--body-timeout", str(args.body_timeout)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=limit,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("serve did not start") from None
                    time.sleep(0.1)
            attacker = subprocess.Popen(
                [sys.executable, "-m", "tests.slowloris", str(port), str(args.headers), str(args.bodies)],
                cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert attacker.stdout is not None
            attacker.stdout.readline()
            latencies, codes = [], []
            for i in range(args.posts):
                started = time.monotonic()
                with httpx.Client(timeout=30) as client:
                    r = client.post(f"http://127.0.0.1:{port}/v1/events",
                                    json={"kind": "support_request", "site": "s", "conversation_id": f"b{i}",
                                          "id": f"bench-{i}", "message": "help"})
                latencies.append(time.monotonic() - started)
                codes.append(r.status_code)
                time.sleep(0.25)
            attacker.send_signal(signal.SIGTERM)
            attack = orjson.loads(attacker.communicate(timeout=60)[0])
            deadline = time.monotonic() + 60
            while len(sink.received) < codes.count(202) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(60)
    ms = sorted(x * 1000 for x in latencies)
    print(f"slow clients: {args.headers} slow headers + {args.bodies} slow bodies; "
          f"fd limit {args.nofile or 'unchanged'}; header/body timeouts {args.header_timeout}/{args.body_timeout} s")
    print(f"posts: {len(ms)}, 202: {codes.count(202)}, delivered: {len(sink.received)}")
    print(f"latency ms: median {statistics.median(ms):.1f}, p95 {ms[int(len(ms) * 0.95) - 1]:.1f}, "
          f"worst {ms[-1]:.1f}")
    print(f"slow connections: opened {attack['opened']}, dropped by the server {attack['dropped']}, "
          f"answered 408 {attack['timeouts_answered']}, refused {attack['refused']}, "
          f"held at most {attack['longest']:.1f} s")


if __name__ == "__main__":
    main()
