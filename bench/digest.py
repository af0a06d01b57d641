"""How long the daily digest takes to count a busy day, and how much memory it needs.

    python bench/digest.py [--events 1000000] [--db /tmp/digest-bench.db]

Fills a SQLite store with one day of user messages (a realistic mix of questions, a few
thousand conversations, some support requests), then computes the digest's statistics
and renders every form of the report in a fresh process, and prints a table: time, the
Python peak (tracemalloc) and the process's peak resident memory (ru_maxrss).
Target: at most 3 s and 300 MB for 1,000,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2026, 3, 11)
TZ = "Europe/Paris"


def fill(db: Path, n: int) -> None:
    """``n`` events on DAY, written straight into the tables (setup, not what is measured)."""
    import yaml

    from notifier.core.questions import question_key
    from notifier.store.sqlite import SqliteStore

    if db.exists():
        db.unlink()
    store = SqliteStore(f"sqlite:///{db}")
    asyncio.run(store.open())
    groups = yaml.safe_load((ROOT / "tests/fixtures/questions.yaml").read_text("utf-8"))["groups"]
    questions = [q for qs in groups.values() for q in qs]
    # Long tail: a few questions are very common, each message also gets a unique order number
    # one time in ten (distinct keys, as in real traffic).
    weights = [1 / (i + 1) for i in range(len(questions))]
    rng = random.Random(1)
    start = datetime.combine(DAY, dtime(0), ZoneInfo(TZ)).timestamp()
    sites = ["shop.example.com", "blog.example.com", "help.example.com"]
    asyncio.run(store.close())  # the schema is made; the bulk load uses a connection of its own
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    batch = []
    picks = rng.choices(questions, weights, k=n)
    for i, text in enumerate(picks):
        if i % 10 == 0:
            text = f"{text} (commande {rng.randrange(10**6)} ref {rng.randrange(10**4)}x)"
        kind = "support_request" if i % 500 == 0 else "message"
        at = start + rng.random() * 86400
        conv = f"c{i // 4}"
        site = sites[i % 3]
        body = json.dumps({"id": f"e{i}", "kind": kind, "site": site, "conversation_id": conv,
                           "role": "user" if kind == "message" else None, "message": text,
                           "occurred_at": datetime.fromtimestamp(at, UTC).isoformat()})
        batch.append((f"e{i}", kind, site, conv, "user" if kind == "message" else None, at, at,
                      question_key(text), body))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", batch)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def measure(db: Path) -> dict[str, float]:
    """Run in a fresh process: compute and render the digest of DAY."""
    from notifier.config.loader import parse_config
    from notifier.digest import DigestScheduler
    from notifier.render import Renderer
    from notifier.store.sqlite import SqliteStore

    config = parse_config(
        "version: 1\ndefaults: {timezone: Europe/Paris}\n"
        "channels: {hook: {type: webhook, url: 'http://127.0.0.1:9/'}}\n"
        "digests: [{name: daily, to: [hook]}]\n", "bench.yaml")

    async def go() -> tuple[float, int, int]:
        store = SqliteStore(f"sqlite:///{db}")
        await store.open()
        s = DigestScheduler(config, store, {}, Renderer(), "bench")
        digest = config.digests[0]
        period = s.due(digest, datetime.combine(DAY + timedelta(days=1), dtime(9), ZoneInfo(TZ)))
        t0 = time.perf_counter()
        stats = await s.stats(digest, period)
        report = s.report(digest, period, stats)
        elapsed = time.perf_counter() - t0
        await store.close()
        return elapsed, stats.totals.user_messages, len(report.html or "")

    tracemalloc.start()
    elapsed, messages, html = asyncio.run(go())
    _, py_peak = tracemalloc.get_traced_memory()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": elapsed, "python_peak_mb": py_peak / 2**20, "maxrss_mb": rss_kb / 1024,
            "user_messages": messages, "html_bytes": html}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/notifier-digest-bench.db"))
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.db)))
        return 0
    t0 = time.perf_counter()
    fill(args.db, args.events)
    setup = time.perf_counter() - t0
    out = subprocess.run([sys.executable, __file__, "--measure", "--db", str(args.db)],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    ok = r["seconds"] <= 3 and r["maxrss_mb"] <= 300
    print(f"{'events':>10} {'setup s':>8} {'digest s':>9} {'py peak MB':>11} {'maxrss MB':>10}  target")
    print(f"{args.events:>10,} {setup:>8.1f} {r['seconds']:>9.2f} {r['python_peak_mb']:>11.1f} "
          f"{r['maxrss_mb']:>10.1f}  {'met' if ok else 'MISSED'} (≤ 3 s, ≤ 300 MB)")
    print(f"(counted {r['user_messages']:,} user messages; email HTML {r['html_bytes']:,} bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
