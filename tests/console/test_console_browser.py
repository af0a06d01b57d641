"""The console in a real headless Chromium against a real ``notifier serve`` process.

One server and one browser for the module (each costs seconds on a small machine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.auth import hash_token
from tests.channels.fakes import FakeSlack
from tests.console.browser import chromium, click, need_browser, serve, wait_until
from tests.console.helpers import ADMIN, READER, request_event
from tests.sink import Reply, Sink

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def hook() -> Iterator[Sink]:
    with Sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack, hook: Sink) -> Iterator[Callable[[], str]]:
    need_browser()
    tmp = tmp_path_factory.mktemp("console")
    config = tmp / "channels.yaml"
    config.write_text(f"""version: 1
defaults:
  timezone: Europe/Paris
  retry: {{attempts: 2, backoff: 50ms, max_backoff: 100ms}}
channels:
  slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}"}}
  hook: {{type: webhook, url: "{hook.url}", retry: {{attempts: 1}}, timeout: 5s}}
routes:
  - name: handoff
    match: {{kinds: [support_request, contact_request]}}
    to: [slack]
    response_target: 30m
  - name: shop
    match: {{site: shop.example}}
    to: [hook]
auth:
  tokens:
    - {{name: lecteur, secret: "{hash_token(READER)}", scopes: [read]}}
    - {{name: marie, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
""", encoding="utf-8")
    with serve(config, tmp / "notifier.db", tmp / "serve.log") as ready:
        yield ready


@pytest.fixture(scope="module")
def browser(server: Callable[[], str]) -> Iterator[Any]:
    with chromium("en") as driver:  # starts while the server boots
        yield driver


@pytest.fixture(scope="module")
def base(server: Callable[[], str], browser: Any) -> str:
    return server()


def log_in(driver: Any, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/login")
    field = driver.find_element(By.ID, "token")  # found by its label's target
    assert driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "API token"
    field.send_keys(token)
    field.submit()
    wait_until(lambda: driver.current_url.rstrip("/").endswith("/console"), "the queue after login")


def log_out(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button").click()
    wait_until(lambda: "/console/login" in driver.current_url, "the login page after logout")


def post(driver: Any, path: str, fields: dict[str, str]) -> int:
    """A form post from the page's own origin (what a forged or script-made request looks like)."""
    return int(driver.execute_async_script("""
        const [path, fields, done] = arguments;
        fetch(path, {method: 'POST', body: new URLSearchParams(fields), redirect: 'manual',
                     credentials: 'same-origin'}).then(r => done(r.status));""", path, fields))


def test_a_new_case_appears_live_is_claimed_and_slack_hears_of_it(
        browser: Any, base: str, slack: FakeSlack) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, base, ADMIN)
    assert "marie" in browser.find_element(By.CSS_SELECTOR, "header .who").text
    browser.execute_script("window.notReloaded = true")
    r = httpx.post(f"{base}/v1/events", json=request_event(conversation_id="live-1", site="live.example"),
                   headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 202
    case_id = r.json()["case"]["id"]
    row = wait_until(lambda: browser.find_elements(By.ID, f"case-{case_id}"), "the new case in the queue")[0]
    assert "live.example" in row.text and "open" in row.text
    assert browser.execute_script("return window.notReloaded === true")  # no reload: the live stream
    wait_until(lambda: any(m["channel"] == "C0SUPPORT" for m in slack.messages), "the alert in Slack")

    click(browser, f"#case-{case_id} button[value=claim]", "the claim button")
    wait_until(lambda: "claimed by marie" in browser.find_element(By.ID, f"case-{case_id}").text,
               "the case claimed in the queue")
    case = httpx.get(f"{base}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
    assert case["status"] == "claimed" and case["claimed_by"] == "marie"
    assert case["actions"][-1]["via"] == "console"
    # Slack's alert is updated in place (chat.update) to say who took the case.
    alert = next(m for m in slack.messages if m["channel"] == "C0SUPPORT")
    update = wait_until(lambda: [u for u in slack.updates if u["ts"] == alert["ts"]], "chat.update of the alert")
    assert "marie" in str(update[-1]["text"]) + str(update[-1]["blocks"])
    log_out(browser)
    browser.get(f"{base}/console/")
    assert "/console/login" in browser.current_url  # the session is gone


def test_a_post_without_csrf_is_refused_and_a_read_token_cannot_act(browser: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    r = httpx.post(f"{base}/v1/events", json=request_event(conversation_id="csrf-1"),
                   headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    case_id = r.json()["case"]["id"]
    log_in(browser, base, ADMIN)
    assert post(browser, f"/console/cases/{case_id}/claim", {}) == 403
    log_out(browser)

    log_in(browser, base, READER)
    wait_until(lambda: browser.find_elements(By.ID, f"case-{case_id}"), "the case in the queue")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#case-{case_id} button")  # nothing to press
    csrf = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    assert post(browser, f"/console/cases/{case_id}/claim", {"csrf": csrf}) == 403
    case = httpx.get(f"{base}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
    assert case["status"] == "open"
    log_out(browser)


def test_a_dead_letter_is_replayed_from_the_deliveries_page(browser: Any, base: str, hook: Sink) -> None:
    from selenium.webdriver.common.by import By

    hook.reply(Reply(400, b'{"error": "missing field"}'))  # refused once (a permanent failure), then fixed
    r = httpx.post(f"{base}/v1/events", json=request_event(conversation_id="dead-1", site="shop.example"),
                   headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 202
    delivery = next(d["id"] for d in r.json()["deliveries"] if d["channel"] == "hook")
    log_in(browser, base, ADMIN)

    def dead_row() -> Any:
        browser.get(f"{base}/console/deliveries")
        return browser.find_elements(By.ID, f"dead-{delivery}")

    row = wait_until(dead_row, "the dead letter on the Deliveries page")[0]
    assert "400" in row.text
    click(browser, f"#dead-{delivery} button", "the replay button")
    wait_until(lambda: "replayed=1" in browser.current_url, "the replay to be done")
    wait_until(lambda: len(hook.received) >= 2, "the webhook to receive the replayed delivery")
    wait_until(lambda: httpx.get(f"{base}/v1/deliveries/{delivery}", timeout=10, headers={
        "Authorization": f"Bearer {ADMIN}"}).json()["status"] == "sent", "the delivery sent")
    log_out(browser)


def test_the_route_tester_shows_what_slack_would_receive(browser: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, base, READER)
    browser.get(f"{base}/console/routes")
    area = browser.find_element(By.ID, "event")
    area.clear()
    area.send_keys('{"kind": "contact_request", "site": "shop.example", "message": "Rappelez-moi"}')
    browser.find_element(By.ID, "try").click()
    card = wait_until(lambda: browser.find_elements(By.ID, "preview-slack"), "the Slack preview")[0]
    assert "Rappelez-moi" in card.text
    verdicts = browser.find_element(By.CSS_SELECTOR, ".verdicts").text
    assert "handoff" in verdicts and "shop" in verdicts
    assert browser.find_elements(By.ID, "preview-hook")  # the shop route's webhook too
    log_out(browser)


def test_pages_read_without_javascript(base: str, tmp_path: Path) -> None:
    """The queue is plain HTML: a client without scripts reads the cases."""
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/console/login")
        import re

        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        client.post("/console/login", data={"csrf": csrf.group(1), "token": READER, "next": "/console/"})
        queue = client.get("/console/?status=all", headers={"Accept-Language": "en"})
        assert queue.status_code == 200 and "live.example" in queue.text
