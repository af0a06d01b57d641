"""Fix channels.yaml, replay the dead letters: the running service sends them with the fix.

And commands that send nothing read the store or the routes without any channel secret.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from notifier.cli import main
from tests.sink import Reply, Sink
from tests.test_start import _lines_until, _notifier

CONFIG = """
version: 1
channels:
  hook: {{type: webhook, url: "{url}", headers: {{X-Token: "{token}"}}, retry: {{attempts: 1}}, timeout: 5s}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [hook]
"""

EVENT = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c-1",
         "message": "Je veux parler à un humain", "id": "replay-1"}


def _wait(predicate: object, what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _statuses(base: str) -> list[str]:
    rows = httpx.get(f"{base}/v1/deliveries", timeout=10).json()["deliveries"]
    return [d["status"] for d in rows]


@pytest.mark.slow
def test_replay_after_fixing_a_token_uses_the_fix(tmp_path: Path, sink: Sink,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sink.responder = lambda req: Reply(200) if req.headers.get("x-token") == "right-token" else Reply(401)
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(url=sink.url, token="wrong-token"), encoding="utf-8")
    db = f"sqlite:///{tmp_path}/replay.db"
    proc = _notifier("serve", "--port", "0", "--config", str(config), "--db", db, cwd=tmp_path)
    try:
        text = "\n".join(_lines_until(proc, "notifier listening on"))
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        assert port, text
        base = f"http://127.0.0.1:{port.group(1)}"
        assert httpx.post(f"{base}/v1/events", json=EVENT, timeout=10).status_code == 202
        _wait(lambda: _statuses(base) == ["dead"], "the delivery to be dead-lettered")

        # A broken edit is refused by the running process: nothing is replayed.
        config.write_text(CONFIG.format(url=sink.url, token="right-token") + "bogus: 1\n", encoding="utf-8")
        assert main(["replay", "--dead", "--config", str(config), "--db", db]) == 1
        err = capsys.readouterr().err
        assert "refused the new channels.yaml" in err and "bogus" in err and "nothing replayed" in err
        assert _statuses(base) == ["dead"]

        config.write_text(CONFIG.format(url=sink.url, token="right-token"), encoding="utf-8")
        assert main(["replay", "--dead", "--config", str(config), "--db", db]) == 0
        out = capsys.readouterr().out
        assert re.search(r"asked the running notifier serve \(pid \d+\) to reload channels.yaml: done", out), out
        assert "1 delivery queued again" in out
        _wait(lambda: _statuses(base) == ["sent"], "the replayed delivery to be sent")
        assert sink.received[-1].headers["x-token"] == "right-token"

        # Nothing changed since: the process is not asked again.
        assert main(["replay", "--dead", "--config", str(config), "--db", db]) == 0
        assert "already uses the current channels.yaml" in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_commands_that_send_nothing_need_no_channel_secret(tmp_path: Path, sink: Sink,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNSET_SLACK_TOKEN", raising=False)
    monkeypatch.delenv("UNSET_SMTP_URL", raising=False)
    monkeypatch.setenv("NOTIFIER_DB", f"sqlite:///{tmp_path}/ro.db")
    (tmp_path / "channels.yaml").write_text(f"""
version: 1
channels:
  hook: {{type: webhook, url: "{sink.url}"}}
  slack: {{type: slack, token: "${{UNSET_SLACK_TOKEN}}", channel: "#support"}}
  mail: {{type: email, to: [a@example.com], smtp: "${{UNSET_SMTP_URL}}"}}
routes:
  - {{name: handoff, match: {{kinds: [support_request]}}, to: [hook]}}
  - {{name: other, match: {{kinds: [feedback]}}, to: [slack, mail]}}
""", encoding="utf-8")
    (tmp_path / "event.json").write_text(json.dumps(EVENT), encoding="utf-8")

    assert main(["send", "event.json"]) == 0
    assert "→ hook via handoff: pending" in capsys.readouterr().out
    assert main(["deliveries"]) == 0
    assert "hook" in capsys.readouterr().out
    assert main(["explain", "event.json"]) == 0
    assert "→ hook" in capsys.readouterr().out
    # What sends, or renders what would be sent, still needs the secrets, and says which.
    assert main(["explain", "event.json", "--render"]) == 1
    assert "UNSET_SLACK_TOKEN is not set" in capsys.readouterr().err
    assert main(["check"]) == 1
    assert "UNSET_SMTP_URL is not set" in capsys.readouterr().err
