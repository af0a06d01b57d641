"""Regenerate the console's screenshots (in French) into ``docs/console/``.

    python -m notifier.console.screenshots [--out docs/console] [--lang fr]

Builds a small demo store (support requests from three sites, two claimed, one resolved,
deliveries sent to a local receiver and dead letters from a closed port), serves it with
``notifier serve`` on 127.0.0.1 and photographs each page with Debian's headless Chromium
through ``chromium-driver`` (Selenium, a development dependency). Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

__all__ = ["PAGES", "main"]

#: The pages photographed, in order: file name -> path.
PAGES = {
    "login": "/console/login",
    "queue": "/console/",
    "case": "/console/cases/{case}",
    "deliveries": "/console/deliveries",
    "routes": "/console/routes",
    "config": "/console/config",
    "digest": "/console/digest",
    "health": "/console/health",
}

_CONFIG = """version: 1
defaults:
  timezone: Europe/Paris
  locale: fr
  response_target: 30m
  response_clock: wall
channels:
  crm: {{type: webhook, url: "http://127.0.0.1:{ok}/hook", retry: {{attempts: 1}}, timeout: 5s}}
  erp: {{type: webhook, url: "http://127.0.0.1:{closed}/orders", retry: {{attempts: 1}}, timeout: 2s}}
  slack: {{type: slack, token: "xoxb-demo", channel: "#support", base_url: "http://127.0.0.1:{closed}/api/",
          retry: {{attempts: 1}}}}
  teams: {{type: teams, url: "http://127.0.0.1:{closed}/workflow", retry: {{attempts: 1}}}}
routes:
  - name: urgent words
    match: {{kinds: [message], keywords: [urgent, remboursement], role: user}}
    to: [crm, erp]
    response_target: 15m
  - name: human handoff
    match: {{kinds: [support_request, contact_request, tool_call]}}
    to: [crm, slack, teams]
    escalate: [{{after: 20m, to: [crm]}}]
digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [crm]
    sections: [totals, top_questions, support_requests, peak_hours]
auth:
  tokens:
    - {{name: camille, secret: "{secret}", scopes: [admin]}}
"""

_REQUESTS = [
    ("boutique.example.fr", "support_request", "Ma commande n'est pas arrivée, je voudrais parler à quelqu'un."),
    ("boutique.example.fr", "contact_request", "Pouvez-vous me rappeler demain matin ?"),
    ("mairie.example.fr", "support_request", "Comment obtenir un acte de naissance ?"),
    ("ecole.example.fr", "tool_call", "Inscription de mon fils en CE1"),
    ("boutique.example.fr", "message", "C'est urgent, je veux un remboursement"),
    ("mairie.example.fr", "support_request", "Le formulaire de demande ne s'envoie pas."),
    ("ecole.example.fr", "support_request", "Quels sont les horaires de la garderie ?"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


async def _seed(config: Path, db: str) -> str:
    from notifier.cases import act
    from notifier.core.cases import Action
    from notifier.core.events import Event
    from notifier.service import Service

    service = Service(config, db, capture=False)
    await service.open()
    try:
        now = datetime.now(UTC)
        first_case = ""
        for i, (site, kind, text) in enumerate(_REQUESTS):
            at = now - timedelta(minutes=95 - i * 14)
            event = Event.model_validate({
                "kind": kind, "site": site, "conversation_id": f"demo-{i}", "message": text, "role": "user",
                "user": {"name": ["Léa Martin", "Karim B.", "Sophie", "Jean"][i % 4],
                         "email": f"client{i}@example.fr", "consent": i % 3 != 2},
                "page": {"url": f"https://{site}/aide", "title": "Aide"},
                "transcript": [{"role": "user", "text": "Bonjour"},
                               {"role": "assistant", "text": "Bonjour ! Comment puis-je vous aider ?"},
                               {"role": "user", "text": text}],
                **({"tool": {"name": "send_support_email", "arguments": {"message": text}}}
                   if kind == "tool_call" else {})})
            accepted = await service.accept([event], now=at)
            case = accepted[0].case
            if case is not None and not first_case:
                first_case = str(case["id"])
        from notifier.console.queries import ConsoleReads

        page = await ConsoleReads(service.store.connector()).queue(statuses=None, sites=None, page=1)
        ids = [r.case.id for r in page.rows]
        steps: list[tuple[str, Action]] = [(ids[2], "claim"), (ids[4], "claim"), (ids[5], "resolve")]
        for case_id, action in steps:
            await act(service.store, service.config, case_id, action, by="camille", via="console", now=now)
        assert service.worker is not None
        await service.worker.drain(include_retries=False)
        return first_case or ids[0]
    finally:
        await service.close()


def _shoot(base: str, token: str, case: str, out: Path, lang: str) -> list[Path]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1280,960", f"--lang={lang}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=DriverService(executable_path=shutil.which("chromedriver")
                                                    or "/usr/bin/chromedriver"), options=options)
    written = []
    try:
        for name, path in PAGES.items():
            if name == "queue":  # log in first
                field = driver.find_element(By.ID, "token")
                field.send_keys(token)
                field.submit()
                deadline = time.monotonic() + 30
                while "/console/login" in driver.current_url and time.monotonic() < deadline:
                    time.sleep(0.1)
            driver.get(base + path.format(case=case))
            if name == "routes":
                driver.find_element(By.ID, "try").click()
            target = out / f"{name}.png"
            driver.save_screenshot(str(target))
            written.append(target)
    finally:
        driver.quit()
    return written


def main(argv: list[str] | None = None) -> int:
    """Build the demo, photograph every page, print the files written."""
    parser = argparse.ArgumentParser(prog="python -m notifier.console.screenshots", description=__doc__)
    parser.add_argument("--out", default="docs/console", help="where the PNG files go (default: docs/console)")
    parser.add_argument("--lang", default="fr", choices=["fr", "en"])
    args = parser.parse_args(argv)
    from notifier.auth import hash_token, new_token

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    token = new_token()
    with tempfile.TemporaryDirectory() as tmp, _receiver() as ok:
        config = Path(tmp) / "channels.yaml"
        config.write_text(_CONFIG.format(ok=ok, closed=_free_port(), secret=hash_token(token)), encoding="utf-8")
        db = f"sqlite:///{tmp}/demo.db"
        case = asyncio.run(_seed(config, db))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_API_TOKEN"}
        proc = subprocess.Popen([sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--db", db,
                                 "--host", "127.0.0.1", "--port", str(port), "--no-worker", "--log-level", "warning"],
                                env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        print("notifier serve did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.2)
            for path in _shoot(base, token, case, out, args.lang):
                print(path)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
