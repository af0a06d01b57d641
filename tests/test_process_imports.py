"""A worker process loads what its configuration needs, not every client notifier has.

Each worker process (``serve --workers N`` starts them beside the API) is an interpreter of
its own, and keeps in memory every module it imported. Slack's client with aiohttp, the
API's FastAPI and uvicorn and the capture inbox's SMTP server came to some 20 MB per worker
that sends only webhooks (docs/benchmarks.md, "Every core"). ``python -X importtime`` lists
every module a real ``notifier worker --burst`` run imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = {"aiohttp", "fastapi", "uvicorn", "slack_sdk", "aiosmtpd"}

CONFIG = """
version: 1
defaults: {{timezone: UTC}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:9/hook"}}
{more}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def loaded(tmp_path: Path, more: str = "") -> set[str]:
    """The top-level packages a ``notifier worker --burst`` run imported, with ``more`` channels."""
    (tmp_path / "channels.yaml").write_text(CONFIG.format(more=more), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "notifier.cli", "worker",
         "--config", str(tmp_path / "channels.yaml"), "--db", f"sqlite:///{tmp_path / 'notifier.db'}",
         "--burst", "--log-level", "warning"],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sent 0" in done.stdout, done.stdout
    return {line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in done.stderr.splitlines() if line.startswith("import time:") and line.count("|") == 2}


def test_a_worker_that_sends_webhooks_loads_neither_slack_nor_the_api(tmp_path: Path) -> None:
    modules = loaded(tmp_path)
    assert "pyreqwest" in modules  # the webhook's client
    assert not HEAVY & modules, sorted(HEAVY & modules)


def test_a_worker_with_a_slack_channel_loads_slacks_client(tmp_path: Path) -> None:
    modules = loaded(tmp_path, '  slack: {type: slack, token: xoxb-1-2, channel: "#support"}')
    assert {"slack_sdk", "aiohttp"} <= modules
