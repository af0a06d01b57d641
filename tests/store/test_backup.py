"""``notifier db backup``: a copy made while the service accepts events opens and holds them."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from notifier.cli import main
from tests.conftest import webhook_config
from tests.test_start import _lines_until, _notifier


@pytest.mark.slow
def test_backup_while_the_service_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "channels.yaml").write_text(webhook_config("http://127.0.0.1:9/hook"), encoding="utf-8")
    db = tmp_path / "live.db"
    proc = _notifier("serve", "--port", "0", "--db", f"sqlite:///{db}", cwd=tmp_path)
    stop = threading.Event()
    accepted: list[str] = []
    errors: list[str] = []
    try:
        text = "\n".join(_lines_until(proc, "notifier listening on"))
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        assert port, text
        url = f"http://127.0.0.1:{port.group(1)}/v1/events"

        def write() -> None:
            with httpx.Client(timeout=30) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    batch = [{"id": f"b{n}-{i}", "kind": "message", "site": "s", "role": "user",
                              "message": f"question {n} {i}"} for i in range(20)]
                    r = client.post(url, json=batch)
                    if r.status_code != 202:
                        errors.append(f"{r.status_code} {r.text}")
                        return
                    accepted.extend(e["id"] for e in batch)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            pause, end = threading.Event(), time.monotonic() + 120
            while len(accepted) < 200 and not errors and writer.is_alive() and time.monotonic() < end:
                pause.wait(0.05)
            before = set(accepted)
            assert main(["db", "backup", str(tmp_path / "copy.db"), "--db", f"sqlite:///{db}"]) == 0
        finally:
            stop.set()
            writer.join(timeout=60)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert errors == []
    out = capsys.readouterr().out
    assert f"to {tmp_path / 'copy.db'}" in out and "events" in out
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in copy.execute("SELECT id FROM events")}
    # Every event acknowledged before the backup started is in the copy.
    assert before <= ids
    assert not (tmp_path / "copy.db-wal").exists()


def test_backup_refuses_to_overwrite_and_names_postgres_tooling(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "n.db"
    sqlite3.connect(db).close()
    (tmp_path / "taken.db").write_text("x")
    assert main(["db", "backup", str(tmp_path / "taken.db"), "--db", f"sqlite:///{db}"]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["db", "backup", str(tmp_path / "x.db"), "--db", "postgresql://u:pw@db/n"]) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err and "pw" not in err
