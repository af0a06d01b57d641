"""Logout ends the session on the server: a copy of the cookie is refused by every API
process sharing the store, after a restart too, while other sessions of the token go on.

Each "process" is a :class:`Service` of its own (its own store connections, its own console
and memory of ended sessions) answering real HTTP on 127.0.0.1, on SQLite and PostgreSQL;
a slow test does it with two real ``notifier serve`` processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from notifier.console.session import COOKIE, ENV_SECRET, MAX_AGE, SKEW
from notifier.service import Service
from notifier.store.cases import CaseStore
from notifier.store.connector import as_time
from tests.console.browser import serve
from tests.console.helpers import ADMIN, console_config, csrf_of, log_in, opened_and_serving, request_event
from tests.sink import Sink


@pytest.fixture
def config_path(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    # Shared by every process, as a deployment of several API processes sets it.
    monkeypatch.setenv(ENV_SECRET, "console-logout-test-secret-0123456789")
    path = tmp_path / "channels.yaml"
    path.write_text(console_config(sink.url), encoding="utf-8")
    return path


@asynccontextmanager
async def api_process(config: Path, db_url: str, tmp: Path) -> AsyncIterator[tuple[Service, str]]:
    """A service on the shared database and its API (with the console) on a free loopback port."""
    service = Service(config, db_url, inbox_dir=tmp / "inbox")
    async with opened_and_serving(service) as base:
        yield service, base


def browser(base: str, cookie: str | None = None) -> httpx.AsyncClient:
    """A client keeping its cookies, like a browser; ``cookie``: a copied session cookie."""
    client = httpx.AsyncClient(base_url=base, timeout=20, headers={"Accept-Language": "en"})
    if cookie is not None:
        client.cookies.set(COOKIE, cookie, domain="127.0.0.1", path="/console")
    return client


async def logged_in(client: httpx.AsyncClient) -> str:
    """Log ``client`` in with the admin token; its session cookie."""
    r = await log_in(client, ADMIN)
    assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
    return client.cookies[COOKIE]


async def replay(base: str, cookie: str, path: str, form: dict[str, str] | None = None) -> httpx.Response:
    """A request carrying a copied session cookie, from a client that has nothing else."""
    async with browser(base, cookie) as client:
        return await (client.post(path, data=form) if form is not None else client.get(path))


def sent_to_login(r: httpx.Response) -> bool:
    return r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_a_logged_out_cookie_is_refused_by_every_process_and_after_a_restart(
        config_path: Path, db_url: str, tmp_path: Path) -> None:
    async with api_process(config_path, db_url, tmp_path) as (service, a), \
            api_process(config_path, db_url, tmp_path) as (_, b):
        async with httpx.AsyncClient(base_url=a, timeout=20) as chatbot:
            posted = await chatbot.post("/v1/events", json=request_event(),
                                        headers={"Authorization": f"Bearer {ADMIN}"})
        case_id = posted.json()["case"]["id"]
        async with browser(a) as one, browser(a) as other:  # two browsers of the same token
            copied = await logged_in(one)
            other_cookie = await logged_in(other)
            page = await replay(b, copied, "/console/")
            assert page.status_code == 200 and "marie" in page.text  # the copy works in process B...
            old_csrf = csrf_of(page.text)
            out = await one.post("/console/logout", data={"csrf": csrf_of((await one.get("/console/")).text)})
            assert sent_to_login(out)
            # ...and no longer once its owner logged out in process A: not in B (which never
            # saw the logout), not in A.
            assert sent_to_login(await replay(b, copied, "/console/"))
            assert sent_to_login(await replay(a, copied, "/console/"))
            # A case action with the copy and the form's token of before is refused, and changes nothing.
            acted = await replay(b, copied, f"/console/cases/{case_id}/claim", {"csrf": old_csrf})
            assert acted.status_code == 403
            case = await CaseStore(service.store.connector()).get(case_id)
            assert case is not None and case.status == "open"
            # The other session of the same token goes on, in both processes.
            assert (await other.get("/console/")).status_code == 200
            assert (await replay(b, other_cookie, "/console/")).status_code == 200
            # The store keeps the ended session only until its cookie would have expired.
            rows = await service.store.connector().fetch_all("SELECT expires_at FROM ended_sessions")
            assert len(rows) == 1
            until = as_time(rows[0]["expires_at"])
            assert until is not None
            assert timedelta(seconds=MAX_AGE) < until - datetime.now(UTC) <= timedelta(seconds=MAX_AGE) + SKEW
    # Both processes stopped; a new one on the same store still refuses the copy.
    async with api_process(config_path, db_url, tmp_path) as (_, c):
        assert sent_to_login(await replay(c, copied, "/console/"))
        assert (await replay(c, other_cookie, "/console/")).status_code == 200


async def test_an_open_live_queue_ends_when_its_session_is_logged_out_elsewhere(
        config_path: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'notifier.db'}"
    async with (api_process(config_path, db_url, tmp_path) as (_, a),
                api_process(config_path, db_url, tmp_path) as (_, b),
                browser(a) as tab, browser(b, await logged_in(tab)) as same_session_b):
        async with tab.stream("GET", "/console/queue/stream?status=active&page=1&v=") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            page = await same_session_b.get("/console/")
            out = await same_session_b.post("/console/logout", data={"csrf": csrf_of(page.text)})
            assert sent_to_login(out)
            async with asyncio.timeout(20):  # the stream ends well before its own 30 s
                async for _ in lines:
                    pass
        again = await tab.get("/console/queue/stream?status=active&page=1&v=")
        assert again.status_code == 401


@pytest.mark.slow
def test_a_second_serve_process_refuses_a_logged_out_cookie(tmp_path: Path, sink: Sink) -> None:
    """The same with two real ``notifier serve`` processes on one SQLite database (the
    restart is the in-process test's: a third process here would only cost seconds)."""
    config = tmp_path / "channels.yaml"
    config.write_text(console_config(sink.url), encoding="utf-8")
    env = {ENV_SECRET: "console-logout-test-secret-0123456789"}
    db = tmp_path / "notifier.db"

    def get(base: str, cookie: str) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=20, cookies={COOKIE: cookie}) as client:
            return client.get("/console/")

    with serve(config, db, tmp_path / "a.log", env) as ready_a, serve(config, db, tmp_path / "b.log", env) as ready_b:
        a, b = ready_a(), ready_b()
        with httpx.Client(base_url=a, timeout=20) as one, httpx.Client(base_url=a, timeout=20) as other:
            for client in (one, other):
                form = client.get("/console/login")
                client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN, "next": "/console/"})
            copied, other_cookie = one.cookies[COOKIE], other.cookies[COOKIE]
            assert get(b, copied).status_code == 200
            page = one.get("/console/")
            assert sent_to_login(one.post("/console/logout", data={"csrf": csrf_of(page.text)}))
        assert sent_to_login(get(b, copied))
        assert get(b, other_cookie).status_code == 200
