"""What an operator sees when starting notifier: help, version, refusals, the start summary."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from notifier import __version__
from notifier.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

NO_SMTP = """
version: 1
channels:
  support-email: {type: email, to: [support@example.com], smtp: "${SMTP_URL:-}"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [support-email]
digests:
  - {name: daily, to: [support-email]}
  - {name: weekly, schedule: "0 8 * * 1", to: [support-email]}
"""

REAL_SMTP = """
version: 1
channels:
  support-email: {type: email, to: [support@example.com], smtp: "smtp+starttls://bot:s3cr3t-pw@smtp.example.com"}
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [support-email, hook]
"""


def _notifier(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFIER_LOG_FORMAT": "json", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "notifier.cli", *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Output:
    """Every stderr line of a process, collected by a thread as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.done = threading.Event()

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.lines.append(line.rstrip("\n"))
            self.done.set()

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, marker: str, deadline: float = 60.0) -> list[str]:
        """The lines so far, once one holds ``marker`` (or the process ended, or time ran out)."""
        end = time.monotonic() + deadline
        while not any(marker in line for line in self.lines) and not self.done.is_set() \
                and time.monotonic() < end:
            self.done.wait(0.05)
        # The summary is printed in one write: let its last lines arrive too.
        self.done.wait(0.5)
        return list(self.lines)


def _lines_until(proc: subprocess.Popen[str], marker: str, deadline: float = 60.0) -> list[str]:
    """stderr lines of ``proc`` up to the one holding ``marker`` (or the end of the process)."""
    return Output(proc).wait_for(marker, deadline)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("NOTIFIER_DB", f"sqlite:///{tmp_path}/start.db")
    return tmp_path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"notifier {__version__}"


def test_a_bogus_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--log-level", "bogus"])
    assert exit_.value.code == 2
    assert "--log-level: invalid choice: 'bogus'" in capsys.readouterr().err


def _every_parser(parser: argparse.ArgumentParser, name: str = "notifier") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _every_parser(sub, f"{name} {sub_name}")
    return found


def test_every_command_and_flag_has_a_help_text() -> None:
    missing = []
    for name, parser in _every_parser(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{name} {a.dest}" for a in action._choices_actions if not a.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_serve_help_lists_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for var in ("NOTIFIER_CONFIG", "NOTIFIER_DB", "NOTIFIER_API_TOKEN", "SMTP_URL"):
        assert var in out


def test_check_refuses_email_without_smtp_unless_dev(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "channels.yaml").write_text(NO_SMTP, encoding="utf-8")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    # At its line, like every problem `check` reports: the admin goes straight to it.
    assert re.search(r"^channels\.yaml:4:\d+  channels\.support-email\.smtp: no SMTP server", err, re.M), err
    assert "--dev" in err and "1 problem in channels.yaml" in err
    assert main(["check", "--dev"]) == 0
    captured = capsys.readouterr()
    # Counted in words a person writes: one channel, two digests.
    assert "1 channel, 1 route, 2 digests" in captured.out
    assert "capture inbox" in captured.err


def test_serve_on_every_interface_refuses_the_capture_inbox(workdir: Path) -> None:
    (workdir / "channels.yaml").write_text(NO_SMTP, encoding="utf-8")
    proc = _notifier("serve", "--host", "0.0.0.0", "--port", "0", cwd=workdir,
                     env={"NOTIFIER_API_TOKEN": "t0ken-for-the-test-0123456789"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "'support-email': no SMTP server" in err
    assert "listening" not in err


def test_a_busy_port_is_reported_before_anything_starts(workdir: Path) -> None:
    (workdir / "channels.yaml").write_text(REAL_SMTP, encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = _notifier("serve", "--port", str(port), cwd=workdir)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"port {port} is already in use" in err
    assert "listening" not in err and "worker started" not in err


def test_serve_prints_where_each_channel_really_delivers(workdir: Path) -> None:
    (workdir / "channels.yaml").write_text(REAL_SMTP, encoding="utf-8")
    proc = _notifier("serve", "--port", "0", "--workers", "2", cwd=workdir,
                     env={"NOTIFIER_API_TOKEN": "t0ken-for-the-test-0123456789"})
    try:
        lines = _lines_until(proc, "notifier listening on")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    text = "\n".join(lines)
    assert "notifier listening on http://127.0.0.1:" in text, text
    summary = text[text.index("notifier listening on"):]
    assert "config   channels.yaml" in summary
    assert f"store    sqlite:///{workdir}/start.db" in summary
    assert "token required" in summary
    assert "worker   on, with the digest scheduler, and 1 worker process beside it" in summary
    assert "support-email → SMTP smtp.example.com:587 (smtp+starttls)" in summary
    assert "hook          → webhook 127.0.0.1:9" in summary
    assert "s3cr3t-pw" not in text


def test_serve_on_loopback_says_mail_goes_to_the_capture_inbox(workdir: Path) -> None:
    (workdir / "channels.yaml").write_text(NO_SMTP.split("digests:")[0], encoding="utf-8")
    proc = _notifier("serve", "--port", "0", cwd=workdir)
    try:
        lines = _lines_until(proc, "notifier listening on")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    text = "\n".join(lines)
    assert "support-email → capture inbox on 127.0.0.1:" in text, text
    assert "nobody receives it" in text
    assert "no token" in text


def test_the_sample_event_explains_with_the_sample_config(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SMTP_URL", raising=False)
    assert main(["explain", str(ROOT / "event.json"), "--config", str(ROOT / "channels.yaml")]) == 0
    out = capsys.readouterr().out
    assert "✔ route human handoff" in out and "→ support-email" in out


def test_the_capture_inbox_and_run_files_are_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "notifier-inbox/" in ignored and "*.db.run/" in ignored


def _nothing_listens() -> int:
    with socket.socket() as s:  # a port where nothing listens once closed
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]])
def test_a_database_that_cannot_be_opened_is_one_line_not_a_traceback(workdir: Path, command: list[str]) -> None:
    (workdir / "channels.yaml").write_text(REAL_SMTP, encoding="utf-8")
    (workdir / "data").write_text("a file where the database's directory should be", encoding="utf-8")
    proc = _notifier(*command, "--db", f"sqlite:///{workdir}/data/notifier.db", cwd=workdir)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "startup failed" not in err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert f"{workdir}/data" in line and "cannot" in line


def test_store_commands_say_the_database_is_unreachable_without_its_password(workdir: Path) -> None:
    (workdir / "channels.yaml").write_text(REAL_SMTP, encoding="utf-8")
    url = f"postgresql://notifier:s3cret@127.0.0.1:{_nothing_listens()}/notifier"
    for command in (["deliveries"], ["cases"], ["replay", "--dead"]):
        proc = _notifier(*command, "--db", url, cwd=workdir)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (command, err)
        assert "Traceback" not in err, (command, err)
        assert "cannot connect to PostgreSQL" in err and "s3cret" not in err, (command, err)
