"""Logs an operator can read: an access line per refused request, console text on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import webhook_config
from tests.test_start import ROOT, Output, _notifier

SNIPPET = ("from notifier.logs import configure_logging; import structlog; configure_logging('info'); "
           "structlog.get_logger('notifier.worker').warning('channel failing', channel='hook', failures=5)")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NOTIFIER_LOG_FORMAT", None)
    return env


def test_console_lines_on_a_terminal_json_otherwise() -> None:
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SNIPPET], stdin=child, stdout=child, stderr=child,
                            env=_env())
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode())  # colours off for the comparison
    assert "channel failing" in text and "channel=hook" in text and "failures=5" in text
    assert not text.lstrip().startswith("{")

    piped = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, env=_env(),
                           timeout=60, check=True)
    record = json.loads(piped.stderr.strip().splitlines()[-1])
    assert record["event"] == "channel failing" and record["channel"] == "hook" and record["level"] == "warning"


def test_every_refused_request_is_logged_without_its_body(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(webhook_config("http://127.0.0.1:9/hook"), encoding="utf-8")
    proc = _notifier("serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path)
    output = Output(proc)
    try:
        text = "\n".join(output.wait_for("notifier listening on"))
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        assert port, text
        base = f"http://127.0.0.1:{port.group(1)}"
        r = httpx.post(f"{base}/v1/events", content=b"name=Marie+private-visitor-text",
                       headers={"content-type": "application/x-www-form-urlencoded"}, timeout=10)
        assert 400 <= r.status_code < 500
        r = httpx.post(f"{base}/v1/events?token=query-secret", json={"kind": "nope", "site": "s"}, timeout=10)
        assert r.status_code == 422
        assert httpx.get(f"{base}/v1/events/unknown-id", timeout=10).status_code == 404
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        output.done.wait(30)
    err = "\n".join(output.lines)
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("event") == "request refused"]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [
        ("POST", "/v1/events", access[0]["status"]), ("POST", "/v1/events", 422), ("GET", "/v1/events/unknown-id", 404)]
    assert all(r["level"] == "warning" and r["reason"] for r in access)
    assert "kind" in access[1]["reason"]
    assert "private-visitor-text" not in err and "query-secret" not in err


def test_the_hot_path_guard_agrees_with_what_is_written() -> None:
    # The worker skips its per-delivery line when logs.enabled() says it would be filtered:
    # the guard must say exactly what structlog writes, at each level.
    snippet = ("import logging, structlog; from notifier.logs import configure_logging, enabled; "
               "log = structlog.get_logger('notifier.worker')\n"
               "for level in ('debug', 'info', 'warning'):\n"
               "    configure_logging(level)\n"
               "    print(level, enabled(logging.INFO), flush=True)\n"
               "    log.info('delivered', configured=level)\n")
    proc = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.stdout.split("\n")[:3] == ["debug True", "info True", "warning False"]
    written = [json.loads(line)["configured"] for line in proc.stderr.splitlines() if '"delivered"' in line]
    assert written == ["debug", "info"]


LIBRARIES = """
import logging
from notifier.logs import configure_logging
configure_logging('info')
from notifier.http_guard import uvicorn_config
uvicorn_config(lambda scope, receive, send: None)  # uvicorn sets up its loggers here
logging.getLogger('psycopg.pool').warning("error connecting in 'notifier': connection failed\\n"
                                          "\\tIs the server running on that host?")
try:
    raise RuntimeError('boom')
except RuntimeError:
    logging.getLogger('uvicorn.error').exception('Exception in ASGI application')
"""


def test_library_lines_are_json_lines_too() -> None:
    # A log shipper reads one JSON object per line: a library's multi-line warning or a
    # traceback printed as plain text breaks it (and hides the line from searches by level).
    piped = subprocess.run([sys.executable, "-c", LIBRARIES], capture_output=True, text=True, env=_env(),
                           timeout=60, check=True)
    records = [json.loads(line) for line in piped.stderr.strip().splitlines()]
    pool, crash = records
    assert pool["level"] == "warning" and pool["logger"] == "psycopg.pool"
    assert pool["event"].startswith("error connecting in 'notifier'") and "Is the server running" in pool["event"]
    assert crash["level"] == "error" and crash["event"] == "Exception in ASGI application"
    assert "RuntimeError: boom" in crash["exception"]


def test_an_unknown_log_format_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    """``NOTIFIER_LOG_FORMAT=text`` (a typo) would have switched every line to JSON without a
    word: serve refuses to start and says which variable and which values; either case of a
    known value is taken."""
    (tmp_path / "channels.yaml").write_text(webhook_config("http://127.0.0.1:9/hook"), encoding="utf-8")
    proc = _notifier("serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path,
                     env={"NOTIFIER_LOG_FORMAT": "text"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "NOTIFIER_LOG_FORMAT='text': console or json" in err
    assert "Traceback" not in err and "listening" not in err + out

    upper = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True,
                           env={**_env(), "NOTIFIER_LOG_FORMAT": "JSON"}, timeout=60, check=True)
    assert json.loads(upper.stderr.strip().splitlines()[-1])["event"] == "channel failing"
