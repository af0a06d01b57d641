"""Cases from the command line: list, claim, resolve, reopen; two agents racing for one case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.cli import main
from tests.conftest import webhook_config
from tests.pgserver import PgServer
from tests.sink import Sink

EVENT = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c7",
         "message": "Je veux parler à un humain", "id": "cli-1"}


@pytest.fixture
def workdir(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "channels.yaml").write_text(webhook_config(sink.url), encoding="utf-8")
    (tmp_path / "event.json").write_text(json.dumps(EVENT), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DB", f"sqlite:///{tmp_path}/cli.db")
    return tmp_path


def case_id(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["cases", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    return str(rows[0]["id"])


def test_claim_resolve_reopen(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    cid = case_id(capsys)
    assert main(["cases", "--status", "open"]) == 0
    assert cid in capsys.readouterr().out
    assert main(["claim", cid, "--by", "marie"]) == 0
    assert f"case {cid} claimed by marie" in capsys.readouterr().out
    assert main(["claim", cid, "--by", "marie"]) == 0
    assert "already claimed by marie" in capsys.readouterr().out
    assert main(["claim", cid, "--by", "paul"]) == 1
    assert "already claimed by marie" in capsys.readouterr().out
    assert main(["resolve", cid, "--by", "marie", "--note", "rappelée"]) == 0
    capsys.readouterr()
    assert main(["cases", "--status", "open"]) == 0
    assert "no cases with status open" in capsys.readouterr().out
    assert main(["reopen", cid, "--by", "paul", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["case"]["status"] == "reopened"
    assert main(["cases"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(cid)]
    assert " reopened " in row and "marie" not in row  # nobody has it until someone claims it
    assert main(["claim", "nope", "--by", "marie"]) == 2
    assert "no case 'nope'" in capsys.readouterr().out


def test_the_same_agent_typed_otherwise_is_not_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Marie took the case from the console as "Marie"; from her terminal, --by defaults to her
    # login, "marie": she is told she has it already (exit 0), not that someone else does (exit 1).
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    cid = case_id(capsys)
    assert main(["claim", cid, "--by", "Marie"]) == 0
    capsys.readouterr()
    assert main(["claim", cid, "--by", "marie"]) == 0
    assert f"case {cid} was already claimed by Marie" in capsys.readouterr().out


def test_the_tables_show_times_in_the_teams_zone(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The server runs in UTC; the team reads in defaults.timezone (Europe/Paris), as in its mails.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert main(["send", "event.json"]) == 0
        capsys.readouterr()
        assert main(["cases", "--json"]) == 0
        [case] = json.loads(capsys.readouterr().out)
        opened = datetime.fromisoformat(case["round_opened_at"]).astimezone(ZoneInfo("Europe/Paris"))
        shown = opened.strftime("%Y-%m-%d %H:%M:%S %Z")
        assert shown.endswith((" CET", " CEST"))
        assert main(["cases"]) == 0
        assert shown in capsys.readouterr().out
        assert main(["deliveries"]) == 0
        assert " CET " in capsys.readouterr().out.replace(" CEST ", " CET ")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_every_action_keeps_its_note(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README shows `--note` on claim, resolve and reopen alike, as the API takes it.
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    cid = case_id(capsys)
    assert main(["claim", cid, "--by", "marie", "--note", "je rappelle à 15h"]) == 0
    assert main(["resolve", cid, "--by", "marie", "--note", "rappelée, colis renvoyé"]) == 0
    assert main(["reopen", cid, "--by", "paul", "--note", "le colis n'est toujours pas là"]) == 0
    capsys.readouterr()
    assert main(["privacy", "export", "--conversation", EVENT["conversation_id"]]) == 0
    actions = json.loads(capsys.readouterr().out)["cases"][0]["actions"]
    assert [(a["action"], a["actor"], a["note"]) for a in actions] == [
        ("claim", "marie", "je rappelle à 15h"),
        ("resolve", "marie", "rappelée, colis renvoyé"),
        ("reopen", "paul", "le colis n'est toujours pas là"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_claiming_at_once_one_wins(backend: str, workdir: Path, request: pytest.FixtureRequest,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{workdir}/cli.db"
    if backend == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        db = server.create_database()
    assert main(["send", "event.json", "--db", db]) == 0
    capsys.readouterr()
    assert main(["cases", "--json", "--db", db]) == 0
    cid = json.loads(capsys.readouterr().out)[0]["id"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-m", "notifier.cli", "claim", cid, "--by", name, "--db", db, "--json"],
                              cwd=workdir, env=env, stdout=subprocess.PIPE, text=True)
             for name in ("marie", "paul")]
    results = [json.loads(p.communicate(timeout=120)[0]) | {"code": p.returncode} for p in procs]
    assert sorted(r["outcome"] for r in results) == ["done", "refused"]
    winner = next(r for r in results if r["outcome"] == "done")
    loser = next(r for r in results if r["outcome"] == "refused")
    assert loser["code"] == 1 and winner["code"] == 0
    assert loser["reason"] == f"already claimed by {winner['case']['claimed_by']}"


def test_worker_burst_fires_due_escalations(workdir: Path, sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "channels.yaml").write_text(webhook_config(sink.url, routes="""
      - name: handoff
        match: {kinds: [support_request]}
        to: [hook]
        escalate: [{after: 0s, to: [hook]}]
    """), encoding="utf-8")
    assert main(["send", "event.json"]) == 0
    assert main(["worker", "--burst", "--no-digests"]) == 0
    assert "sent 2" in capsys.readouterr().out  # the request, and its escalation
    labels = [json.loads(r.body).get("event", {}).get("labels", {}) for r in sink.received]
    assert sorted(lab.get("escalation", "-") for lab in labels) == ["-", "1"]
    assert main(["worker", "--burst", "--no-digests"]) == 0
    assert "sent 0" in capsys.readouterr().out and len(sink.received) == 2


def test_a_site_cannot_write_to_the_operator_s_terminal(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A site is the client's word (a page token posts for its visitors): printed as is, an
    escape sequence in it would act on the terminal of whoever lists the cases (clear the
    screen, retitle the window, or, with OSC 52, put a command in the clipboard)."""
    osc52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaAo=\x07"
    (workdir / "event.json").write_text(json.dumps({**EVENT, "site": osc52 + "shop\x9b2J"}), encoding="utf-8")
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    assert main(["cases"]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if c in "\x1b\x07\x9b"], repr(out)


def test_a_case_resolved_in_time_is_not_shown_late(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Resolved ten minutes after it came in, inside its 2h target, without anyone claiming it
    # first (a quick answer): the list marks it late ("!") for no reason once its target passed.
    import asyncio
    from datetime import UTC, timedelta

    from notifier.cases import act
    from notifier.core.events import Event
    from notifier.service import Service

    (workdir / "channels.yaml").write_text(
        (workdir / "channels.yaml").read_text(encoding="utf-8").replace(
            "defaults:\n", "defaults:\n  response_target: 2h\n  response_clock: wall\n", 1), encoding="utf-8")
    opened_at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    clock = [opened_at]

    async def history() -> None:
        service = Service(workdir / "channels.yaml", os.environ["NOTIFIER_DB"], clock=lambda: clock[0])
        await service.open()
        try:
            [on_time, late] = await service.accept([Event.model_validate({**EVENT, "id": i, "conversation_id": i})
                                                    for i in ("on-time", "late")])
            assert on_time.case is not None and late.case is not None
            clock[0] = opened_at + timedelta(minutes=10)
            await act(service.store, service.config, on_time.case["id"], "resolve", by="marie", via="cli",
                      now=clock[0])
            clock[0] = opened_at + timedelta(hours=3)
            await act(service.store, service.config, late.case["id"], "resolve", by="paul", via="cli",
                      now=clock[0])
        finally:
            await service.close()

    asyncio.run(history())
    assert main(["cases"]) == 0
    rows = {line.split()[-1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "!" not in rows["marie"]
    assert "! paul" in rows["paul"]


def test_a_list_cut_at_its_limit_says_there_are_more(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        (workdir / "event.json").write_text(json.dumps({**EVENT, "id": f"e{i}", "conversation_id": f"c{i}"}),
                                            encoding="utf-8")
        assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    assert main(["cases", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if " open " in line]) == 2
    assert out[-1].startswith("… the 2 most recently active shown, there are more")
    assert main(["cases", "--limit", "3"]) == 0
    assert "there are more" not in capsys.readouterr().out


def test_the_open_list_says_when_reopened_cases_wait_too(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "notifier cases --status open" is where the team looks for who waits: a visitor who wrote
    # again after their case was resolved waits too, under another status.
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    cid = case_id(capsys)
    assert main(["resolve", cid, "--by", "marie"]) == 0
    (workdir / "again.json").write_text(json.dumps({"kind": "message", "role": "user", "site": "shop.example.com",
                                                     "conversation_id": "c7", "message": "Toujours rien reçu"}),
                                        encoding="utf-8")
    assert main(["send", "again.json"]) == 0
    capsys.readouterr()
    assert main(["cases", "--status", "open"]) == 0
    out = capsys.readouterr().out
    assert "no cases with status open" in out
    assert "… and 1 reopened waiting too" in out and "--status reopened" in out
    assert main(["cases", "--status", "reopened"]) == 0
    assert cid in capsys.readouterr().out
