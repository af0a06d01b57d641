"""Every example of docs/integrations.md, run as written against a live `notifier serve`.

One real server process for the module (loopback, a port it picks), a token bound to the
shop's site that must sign its bodies, and a webhook sink standing for the team's channel:
an example passes when the event it posted is stored with its fields and delivered.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.auth import hash_token
from tests.conftest import webhook_config
from tests.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
GUIDE = ROOT / "docs" / "integrations.md"
HERE = Path(__file__).parent

SHOP_TOKEN = "ntf_shop-server-token-0123456789abcdef"
SHOP_HMAC = "shop-hmac-secret-0123456789abcdef"
READER = "ntf_reader-token-0123456789abcdef"
UNSIGNED = "ntf_shop-unsigned-token-0123456789abcdef"
PAGE = "ntf_shop-page-token-0123456789abcdef"
SHOP = "https://shop.example.com"

@dataclass
class Live:
    url: str
    sink: Sink
    env: dict[str, str]
    log: list[str]  # the server's stderr lines, as they come

    def logged(self, text: str, deadline: float = 30.0) -> str:
        """The first line of the server's log holding ``text`` (waits for it)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            found = next((line for line in list(self.log) if text in line), None)
            if found is not None:
                return found
            threading.Event().wait(0.05)
        raise AssertionError(f"{text!r} not in the server's log:\n" + "".join(self.log[-20:]))

    def event(self, event_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/v1/events/{event_id}", headers={"Authorization": f"Bearer {READER}"}, timeout=10)
        assert r.status_code == 200, r.text
        stored: dict[str, Any] = r.json()["event"]
        return stored

    def delivered(self, event_id: str, deadline: float = 60.0) -> dict[str, Any]:
        """The webhook the team's channel received for ``event_id`` (waits for the worker)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for req in list(self.sink.received):
                body = req.json()
                if body["event"]["id"] == event_id:
                    found: dict[str, Any] = body["event"]
                    return found
            threading.Event().wait(0.05)
        raise AssertionError(f"event {event_id} was not delivered within {deadline}s")


def _serve(config: Path, db: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFIER_LOG_FORMAT": "json"}
    env.pop("NOTIFIER_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "notifier.cli", "serve", "--port", "0",
                             "--config", str(config), "--db", db],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    end = time.monotonic() + 90
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if found:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [seen.append(x) for x in iter(lines.get, None)], daemon=True).start()
            return proc, found.group(1), seen
    proc.kill()
    raise AssertionError("notifier serve did not start:\n" + "".join(seen))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    with Sink() as sink:
        config = tmp / "channels.yaml"
        config.write_text(webhook_config(sink.url) + f"""auth:
  tokens:
    - name: shop-server
      secret: "{hash_token(SHOP_TOKEN)}"
      scopes: [events:write]
      sites: [shop.example.com]
      hmac_secret: "{SHOP_HMAC}"
    - {{name: reader, secret: "{hash_token(READER)}", scopes: [read]}}
    - {{name: shop-unsigned, secret: "{hash_token(UNSIGNED)}", scopes: [events:write], sites: [shop.example.com]}}
    - {{name: shop-page, secret: "{hash_token(PAGE)}", scopes: [events:write], sites: [shop.example.com]}}
cors:
  origins: [{SHOP}]
""", encoding="utf-8")
        proc, url, log = _serve(config, f"sqlite:///{tmp}/live.db")
        try:
            env = {**os.environ, "NOTIFIER_URL": url, "NOTIFIER_TOKEN": SHOP_TOKEN,
                   "NOTIFIER_HMAC_SECRET": SHOP_HMAC}
            yield Live(url, sink, env, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(args: list[str], env: dict[str, str], cwd: Path = EXAMPLES) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def answer_id(stdout: str) -> str:
    answer = json.loads(stdout)
    assert answer["duplicate"] is False
    assert [d["status"] for d in answer["deliveries"]] == ["pending"], answer
    event_id: str = answer["id"]
    return event_id


# --------------------------------------------------------------------------- the guide shows what is tested


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir()))
def test_the_guide_shows_each_example_exactly_as_tested(name: str) -> None:
    assert (EXAMPLES / name).read_text(encoding="utf-8").strip() in GUIDE.read_text(encoding="utf-8"), \
        f"docs/integrations.md does not show docs/examples/{name} as it is"


# --------------------------------------------------------------------------- each example, live


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("php") is None,
                    reason="php-cli is not installed (apt-get install php-cli): the WordPress example is not run")
def test_wordpress_example(live: Live) -> None:
    out = run(["php", str(HERE / "wordpress_run.php"), str(EXAMPLES)], live.env)
    event_id = answer_id(out)
    stored = live.event(event_id)
    assert stored["kind"] == "contact_request" and stored["conversation_id"] == "conv-wp-1"
    assert stored["user"] == {"name": "Zoé <b>Martin</b>", "email": "zoe@example.com", "consent": True}
    assert stored["message"] == "Rappelez-moi <script>alert(1)</script> & vite"
    assert stored["page"] == {"url": "https://shop.example.com/panier"}
    assert live.delivered(event_id)["user"]["name"] == "Zoé <b>Martin</b>"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed (apt-get install php-cli)")
def test_wordpress_with_an_array_body_is_told_to_send_json(live: Live, tmp_path: Path) -> None:
    # The mistake the example warns about: 'body' => $event (an array) is sent as a form.
    script = tmp_path / "form.php"
    script.write_text(f"""<?php
require '{HERE / "wordpress_shim.php"}';
$r = wp_remote_post(getenv('NOTIFIER_URL') . '/v1/events', array(
    'headers' => array('Authorization' => 'Bearer ' . getenv('NOTIFIER_TOKEN')),
    'body' => array('kind' => 'contact_request', 'site' => 'shop.example.com')));
echo wp_remote_retrieve_response_code($r) . ' ' . wp_remote_retrieve_body($r);
""", encoding="utf-8")
    out = run(["php", str(script)], {**live.env, "NOTIFIER_TOKEN": UNSIGNED, "NOTIFIER_HMAC_SECRET": ""})
    status, body = out.split(" ", 1)
    assert status == "415", out
    assert "send JSON (Content-Type: application/json)" in json.loads(body)["error"]
    # The server says so in its own log too: the site's developer may never read the answer.
    line = json.loads(live.logged("form-encoded body"))
    assert line["level"] == "warning" and line["content_type"] == "application/x-www-form-urlencoded"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the Node.js example is not run")
def test_node_example(live: Live) -> None:
    event_id = answer_id(run(["node", "notify.mjs"], live.env))
    stored = live.event(event_id)
    assert stored["conversation_id"] == "conv-node-1" and stored["user"]["email"] == "marie@example.com"
    assert live.delivered(event_id)["message"] == "Je voudrais parler à un conseiller"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the browser example is not run")
def test_browser_example(live: Live) -> None:
    # Node stands in for the browser: it gets the page's location and title, and sends the
    # Origin header a browser adds to a cross-origin request (the preflight a browser sends
    # first is tested in tests/test_browser.py).
    code = f"""
globalThis.location = {{ href: "{SHOP}/contact" }};
globalThis.document = {{ title: "Contact" }};
const realFetch = fetch;
globalThis.fetch = (url, init) => realFetch(url, {{ ...init, headers: {{ ...init.headers, Origin: "{SHOP}" }} }});
const {{ notifyFromPage }} = await import("./browser.mjs");
const answer = await notifyFromPage(process.env.NOTIFIER_URL, "{PAGE}", {{
  kind: "contact_request", site: "shop.example.com", conversation_id: "conv-page-1",
  message: "Rappelez-moi", user: {{ name: "Marie", email: "marie@example.com", consent: true }} }});
console.log(JSON.stringify(answer));
"""
    event_id = answer_id(run(["node", "--input-type=module", "-e", code], live.env))
    assert live.event(event_id)["page"] == {"url": f"{SHOP}/contact", "title": "Contact"}
    live.delivered(event_id)
    # A token not bound to a site and limited to events:write is refused from a page.
    code = code.replace(PAGE, READER)
    done = subprocess.run(["node", "--input-type=module", "-e", code], env=live.env, cwd=EXAMPLES,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "may not be used from a web page" in done.stderr


@pytest.mark.slow
def test_python_httpx_example(live: Live) -> None:
    event_id = answer_id(run([sys.executable, "notify.py"], live.env))
    stored = live.event(event_id)
    assert stored["conversation_id"] == "conv-python-1"
    assert stored["page"] == {"url": "https://shop.example.com/commande", "title": "Suivi de commande"}
    assert live.delivered(event_id)["user"]["name"] == "Marie"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("openssl") is None,
                    reason="curl or openssl is not installed: the curl example is not run")
def test_curl_example(live: Live) -> None:
    event_id = answer_id(run(["sh", "notify.sh"], live.env))
    stored = live.event(event_id)
    assert stored["user"] == {"name": "Marie", "phone": "+33 6 12 34 56 78", "consent": True}
    assert live.delivered(event_id)["message"] == "Rappelez-moi au sujet de ma commande"


@pytest.mark.slow
def test_llm_tool_example(live: Live) -> None:
    # The model's tool call, as the model writes it: arguments are JSON text.
    arguments = json.dumps({"name": "Léa Petit", "email": "lea@example.com", "phone": "06 11 22 33 44",
                            "message": "Mon colis est abîmé, je veux un remboursement",
                            "page_url": "https://shop.example.com/commandes/77"})
    code = ("import json, sys\n"
            "from send_support_email import SEND_SUPPORT_EMAIL, on_tool_call\n"
            "assert SEND_SUPPORT_EMAIL['function']['name'] == 'send_support_email'\n"
            "print(on_tool_call('send_support_email', sys.argv[1], site='shop.example.com',"
            " conversation_id='conv-llm-1'))\n")
    out = json.loads(run([sys.executable, "-c", code, arguments], {**live.env, "PYTHONPATH": str(EXAMPLES)}))
    assert out["sent"] is True
    stored = live.event(out["reference"])
    assert stored["kind"] == "tool_call"
    assert stored["user"] == {"name": "Léa Petit", "email": "lea@example.com", "phone": "06 11 22 33 44",
                              "consent": True}
    assert stored["message"] == "Mon colis est abîmé, je veux un remboursement"
    assert stored["page"] == {"url": "https://shop.example.com/commandes/77"}
    assert stored["tool"]["arguments"] == json.loads(arguments), "the model's arguments are kept"
    delivered = live.delivered(out["reference"])
    assert delivered["user"]["email"] == "lea@example.com"


@pytest.mark.slow
def test_an_unsigned_body_is_refused_by_a_signing_token(live: Live) -> None:
    # What the examples' signature protects: the same request without it is refused.
    env = {**live.env, "NOTIFIER_HMAC_SECRET": ""}
    done = subprocess.run([sys.executable, "notify.py"], env=env, cwd=EXAMPLES, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "HTTP 401" in done.stderr
    assert "X-Notifier-Signature" in done.stderr
