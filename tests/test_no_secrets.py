"""No token, password or API key shows up anywhere an admin looks.

Each channel fails against a server that echoes back everything it was sent (headers and
body), the worker logs the failures, and the outputs of ``deliveries`` and
``explain --render`` are searched for every secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.cli import main
from tests.sink import Received, Reply, Sink, free_port

SECRETS = {
    "SLACK_TOKEN": "xoxb-1111-secret-slack-token",
    "ZENDESK_TOKEN": "zdsecret0987654321",
    "FRESHDESK_KEY": "fdkey-secret-5555",
    "HOOK_TOKEN": "hooksecret-42424242",
    "SMTP_PASSWORD": "smtp-pass-7c1d9",
    "TEAMS_SIG": "teams-sig-3f3f3f3f",
    "HOOK_PATH": "hookpath-9a9a9a9a",
    "HOOK_KEY": "hookkey-8b8b8b8b",
    "APPRISE_TOKEN": "apprisetok-6d6d6d6d",
    "SLACK_SIGNING": "slacksigning-2e2e2e2e",
    "SLACK_APP_TOKEN": "xapp-1-A0SECRET-appsecret",
    "ZENDESK_WEBHOOK": "zdhook-secret-7e7e7e7e",
    "FRESHDESK_WEBHOOK": "fdhook-secret-1c1c1c1c",
    # Action links are signed with it: the links themselves must not carry it.
    "NOTIFIER_LINK_SECRET": "linksecret-0f0f0f0f-0123456789abcdef",
}


HOOK_PATH_SEEN = SECRETS["HOOK_PATH"]


def echo(req: Received) -> Reply:
    # A misbehaving server that puts the whole request, credentials included, in its error.
    dump = json.dumps({"url": req.path, "headers": req.headers, "body": req.body.decode(errors="replace")})
    return Reply(401, dump.encode())


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    return SECRETS


def config(sink: Sink, smtp_port: int) -> str:
    base = f"http://127.0.0.1:{sink.port}"
    return f"""
version: 1
defaults: {{public_url: "https://notifier.example.com"}}
channels:
  hook: {{type: webhook, url: "{base}/hook/${{HOOK_PATH}}?key=${{HOOK_KEY}}", headers: {{X-Token: "${{HOOK_TOKEN}}"}}}}
  notify: {{type: apprise, urls: ["json://127.0.0.1:{sink.port}/apprise/${{APPRISE_TOKEN}}"]}}
  slack: {{type: slack, token: "${{SLACK_TOKEN}}", channel: "#support", base_url: "{base}/api/",
          signing_secret: "${{SLACK_SIGNING}}", app_token: "${{SLACK_APP_TOKEN}}"}}
  teams: {{type: teams, url: "{base}/workflows?sig=${{TEAMS_SIG}}"}}
  zendesk: {{type: zendesk, subdomain: acme, email: agent@acme.com, api_token: "${{ZENDESK_TOKEN}}",
            base_url: "{base}", webhook_secret: "${{ZENDESK_WEBHOOK}}"}}
  freshdesk: {{type: freshdesk, domain: acme, api_key: "${{FRESHDESK_KEY}}", base_url: "{base}",
              webhook_secret: "${{FRESHDESK_WEBHOOK}}"}}
  mail: {{type: email, to: [a@example.com], smtp: "smtp://agent:${{SMTP_PASSWORD}}@127.0.0.1:{smtp_port}"}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook, slack, teams, zendesk, freshdesk, mail, notify]
"""


def test_no_secret_in_errors_logs_deliveries_or_explain(env: dict[str, str], tmp_path: Path, sink: Sink,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sink.responder = echo
    (tmp_path / "channels.yaml").write_text(config(sink, free_port()), encoding="utf-8")
    event = {"kind": "support_request", "site": "s", "conversation_id": "c", "message": "help",
             "user": {"email": "u@example.com", "consent": True}}
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DB", f"sqlite:///{tmp_path}/s.db")

    assert main(["send", "event.json"]) == 0
    worker = subprocess.run(
        [sys.executable, "-m", "notifier.cli", "worker", "--burst", "--no-digests", "--log-level", "debug"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NOTIFIER_LOG_FORMAT": "json"},
    )
    assert worker.returncode == 0, worker.stderr
    assert len(sink.received) >= 6, "the channels did reach the echoing server"
    assert any(HOOK_PATH_SEEN in r.path for r in sink.received), "the webhook's secret path was used"
    capsys.readouterr()
    assert main(["deliveries", "--json"]) == 0
    assert main(["deliveries"]) == 0
    assert main(["explain", "event.json", "--render", "--json"]) == 0
    assert main(["check"]) == 0
    outputs = {"worker log": worker.stdout + worker.stderr, "cli": capsys.readouterr().out}

    rows = json.loads(outputs["cli"].split("\n]\n", 1)[0] + "\n]")
    assert {r["channel"] for r in rows} == {"hook", "slack", "teams", "zendesk", "freshdesk", "mail", "notify"}
    assert all(r["last_error"] for r in rows), "every channel failed and says why"
    assert "/v1/cases/preview/act?t=" in outputs["cli"], "explain rendered the signed action links"
    for where, text in outputs.items():
        for name, secret in env.items():
            assert secret not in text, f"{name} leaked into the {where}"
            assert secret[:10] not in text, f"part of {name} leaked into the {where}"
