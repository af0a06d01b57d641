"""The command line as an admin uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from notifier.cli import main
from tests.conftest import webhook_config
from tests.sink import Reply, Sink

EVENT = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c7",
         "message": "Je veux parler à un humain", "id": "cli-1"}


def with_config(folder: Path, config: str) -> None:
    """``config`` as ``folder/channels.yaml``, and :data:`EVENT` as ``folder/event.json``."""
    (folder / "channels.yaml").write_text(config, encoding="utf-8")
    (folder / "event.json").write_text(json.dumps(EVENT), encoding="utf-8")


@pytest.fixture
def workdir(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Path:
    with_config(tmp_path, webhook_config(sink.url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DB", f"sqlite:///{tmp_path}/cli.db")
    return tmp_path


def test_check_ok(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "OK — 1 channel, 2 routes" in capsys.readouterr().out


def test_check_reports_every_problem_with_its_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.yaml").write_text(
        "version: 1\n"
        "channels:\n"
        "  hook: {type: webhook, url: 'http://x', timout: 2s}\n"
        "routes:\n"
        "  - name: r\n"
        "    to: [hok]\n", encoding="utf-8")
    assert main(["check", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:3:" in err and "timout" in err
    assert "bad.yaml:6:" in err and "unknown channel 'hok'" in err and "did you mean 'hook'" in err
    assert "2 problems in bad.yaml" in err


def test_check_takes_the_file_with_config_as_every_command_does(workdir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.yaml").write_text("version: 1\nchannels:\n  hook: {type: webhook, url: 'http://x', timout: 2s}\n",
                                      encoding="utf-8")
    assert main(["check", "--config", "bad.yaml"]) == 1
    assert "bad.yaml:3:" in capsys.readouterr().err
    assert main(["check", "--config", "channels.yaml"]) == 0
    assert main(["check", "bad.yaml", "--config", "channels.yaml"]) == 2
    assert "two files to check" in capsys.readouterr().err


def test_explain_names_routes_reasons_and_dedup_key(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "event.json"]) == 0
    out = capsys.readouterr().out
    assert "✔ route handoff: kind support_request is listed" in out
    assert "✘ route keywords" in out
    assert "→ hook (route handoff" in out and "handoff|shop.example.com:conversation:c7:support_request" in out
    assert main(["explain", "event.json", "--json", "--render"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["deliveries"][0]["channel"] == "hook"
    assert "Je veux parler à un humain" in data["rendered"]["hook"]


def test_send_deliver_list_replay(workdir: Path, sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    sink.reply(Reply(410, b"gone"))
    assert main(["send", "event.json"]) == 0
    assert "cli-1: accepted" in capsys.readouterr().out
    assert main(["send", "event.json"]) == 0
    assert "duplicate" in capsys.readouterr().out

    assert main(["worker", "--burst", "--no-digests"]) == 0
    assert "dead 1" in capsys.readouterr().out
    assert main(["deliveries", "--status", "dead"]) == 0
    out = capsys.readouterr().out
    assert "HTTP 410" in out and "hook" in out
    assert main(["deliveries", "--status", "dead", "--channel", "hoook"]) == 0  # a typo is said back
    assert capsys.readouterr().out.strip() == "no deliveries with status dead of channel 'hoook'"

    assert main(["replay", "--dead", "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["replayed"]
    assert len(replayed) == 1
    assert main(["worker", "--burst", "--no-digests"]) == 0
    assert "sent 1" in capsys.readouterr().out
    assert main(["deliveries", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "sent" and row["id"] == replayed[0]
    assert len(sink.received) == 2


def test_replay_of_an_id_that_cannot_be_replayed_says_why(workdir: Path, sink: Sink,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # It said "… is not a dead or sent delivery" of an id that names no delivery at all.
    assert main(["send", "event.json"]) == 0
    capsys.readouterr()
    assert main(["deliveries", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert main(["replay", row["id"]]) == 1  # pending: the worker has not sent it yet
    assert f"delivery {row['id']} is pending: only dead or sent deliveries are replayed" in capsys.readouterr().out
    assert main(["replay", row["id"][:-1]]) == 1  # a character short, as pasted
    out = capsys.readouterr().out
    assert f"no delivery '{row['id'][:-1]}' (see `notifier deliveries`)" in out


def test_send_takes_json_lines_and_names_the_bad_line(workdir: Path, sink: Sink,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # An export of a chatbot's log is often one event per line.
    lines = [json.dumps({**EVENT, "id": f"line-{i}", "conversation_id": f"c{i}"}) for i in range(3)]
    (workdir / "bad.jsonl").write_text("\n".join([lines[0], lines[1][:-1], "", lines[2]]), encoding="utf-8")
    assert main(["send", "bad.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "line 2, column" in err and "line 4" not in err
    (workdir / "invalid.jsonl").write_text("\n".join([lines[0], json.dumps({**EVENT, "kind": "bogus"})]),
                                           encoding="utf-8")
    assert main(["send", "invalid.jsonl"]) == 1
    assert "line 2: kind: Input should be" in capsys.readouterr().err
    assert not (workdir / "cli.db").exists()  # a file with a bad line accepts nothing

    (workdir / "good.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["send", "good.jsonl"]) == 0
    out = capsys.readouterr().out
    assert all(f"line-{i}: accepted" in out for i in range(3))
    assert main(["worker", "--burst", "--no-digests"]) == 0
    assert "sent 3" in capsys.readouterr().out
    assert len(sink.received) == 3


def test_test_command_sends_a_marked_message(workdir: Path, sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "hook"]) == 0
    assert "hook: sent" in capsys.readouterr().out
    body = sink.received[0].json()
    assert body["test"] is True and body["event"]["site"] == "test.notifier"
    assert main(["test", "hoook"]) == 1
    assert "did you mean 'hook'" in capsys.readouterr().err


def test_schema_is_json_schema(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "channels" in schema["properties"] and "routes" in schema["properties"]


def test_a_broken_template_is_a_config_error_at_load(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "tpl" / "apprise").mkdir(parents=True)
    (workdir / "tpl" / "apprise" / "title.fr.txt").write_text("ok\n{% if %}\n", encoding="utf-8")
    config = (workdir / "channels.yaml").read_text(encoding="utf-8")
    config = config.replace("channels:", "templates: tpl\nchannels:", 1)
    (workdir / "channels.yaml").write_text(config, encoding="utf-8")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "tpl/apprise/title.fr.txt:2" in err
    from notifier.config.errors import ConfigError
    from notifier.service import Service

    with pytest.raises(ConfigError, match=r"title\.fr\.txt:2"):
        Service(workdir / "channels.yaml", f"sqlite:///{workdir}/x.db")


def test_a_templates_directory_overrides_the_built_in_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine" / "apprise").mkdir(parents=True)
    (tmp_path / "mine" / "apprise" / "body.fr.txt").write_text("À traiter : {{ message }} ({{ site }})\n",
                                                             encoding="utf-8")
    with_config(tmp_path, "version: 1\n"
                          "templates: mine\n"
                          "channels:\n"
                          "  ping: {type: apprise, urls: ['json://127.0.0.1:9/x']}\n"
                          "routes:\n"
                          "  - {name: all, match: {kinds: [support_request]}, to: [ping]}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "event.json", "--render", "--json"]) == 0
    rendered = json.loads(capsys.readouterr().out)["rendered"]["ping"]
    assert "À traiter : Je veux parler à un humain (shop.example.com)" in rendered
    assert rendered.startswith("Demande de support")  # the title still comes from the built-in template


def test_explain_writes_durations_as_in_channels_yaml(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "event.json"]) == 0
    out = capsys.readouterr().out
    assert "for 10m)" in out and "0:10:00" not in out
    assert main(["explain", "event.json", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deliveries"][0]["dedup_window"] == "10m"


def test_a_bad_digest_date_names_the_argument(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["digest", "--date", "2026-13-01"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --date: '2026-13-01' is not a day (month must be in 1..12): write YYYY-MM-DD" in err
    assert "fromisoformat" not in err


def test_check_and_serve_refuse_a_file_without_any_channel(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "empty.yaml").write_text("", encoding="utf-8")
    (workdir / "cut.yaml").write_text("version: 1\nchannels: {}\n", encoding="utf-8")
    assert main(["check", "empty.yaml"]) == 1
    assert "empty.yaml:1:1  no channel is configured" in capsys.readouterr().err
    assert main(["check", "cut.yaml"]) == 1
    assert "cut.yaml:2:1  channels: no channel is configured" in capsys.readouterr().err
    assert main(["serve", "--config", "cut.yaml", "--port", "0"]) == 1
    assert "cut.yaml:2:1  channels: no channel is configured" in capsys.readouterr().err


def test_check_and_serve_name_a_file_they_cannot_read(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Saved as Latin-1 by an editor: the é of "Clément" on line 3.
    (workdir / "latin.yaml").write_bytes(b"version: 1\nchannels:\n  hook: {type: webhook, url: 'https://x.example/'}"
                                         b"  # Cl\xe9ment\n")
    for command in (["check", "latin.yaml"], ["serve", "--config", "latin.yaml", "--port", "0"]):
        assert main(command) == 1
        assert "latin.yaml:3:57  not UTF-8 text (byte 0xe9): save the file as UTF-8" in capsys.readouterr().err
    (workdir / "folder").mkdir()
    for command in (["check", "folder"], ["serve", "--config", "folder", "--port", "0"],
                    ["worker", "--config", "folder"]):
        assert main(command) == 1
        assert "folder: Is a directory" in capsys.readouterr().err


def test_check_reports_template_problems_at_once_and_unused_overrides(workdir: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "tpl" / "email").mkdir(parents=True)
    (workdir / "tpl" / "email_body.fr.txt").write_text("Bonjour\n", encoding="utf-8")
    (workdir / "tpl" / "email" / "subject.fr.txt").write_text("Demande {{ site }\n", encoding="utf-8")
    config = workdir / "channels.yaml"
    config.write_text("templates: ./tpl\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "tpl/email/subject.fr.txt:1:1  templates: unexpected '}'" in err
    assert "1 problem in the templates of channels.yaml" in err
    (workdir / "tpl" / "email" / "subject.fr.txt").write_text("Demande {{ site }}\n", encoding="utf-8")
    assert main(["check"]) == 0
    err = capsys.readouterr().err
    assert "email_body.fr.txt: replaces no built-in template, so it is never used (did you mean email/body.fr.txt?)" \
        in err


def test_every_built_in_template_is_documented() -> None:
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "templates.md").read_text(encoding="utf-8")
    for path in (root / "notifier" / "templates").rglob("*.*"):
        folder, name = path.parent.name, path.name.split(".")[0]
        assert f"`{folder}/{name}." in doc, f"{folder}/{path.name} is not in docs/templates.md"


@pytest.mark.parametrize("command", [
    ["deliveries", "--status", "dead"], ["cases"], ["claim", "c-1", "--by", "marie"], ["replay", "--dead"],
    ["digest", "--preview"], ["privacy", "export", "--email", "marie@example.com"],
    ["privacy", "purge", "--dry-run"],
])
def test_reading_a_database_that_is_not_there_says_so(workdir: Path, command: list[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # In the wrong directory (or with NOTIFIER_DB unset), "no dead deliveries" would reassure
    # wrongly: the command names the missing file instead, and creates nothing.
    assert main(command) == 2
    assert f"no database at {workdir / 'cli.db'}" in capsys.readouterr().err
    assert not (workdir / "cli.db").exists()
    assert main(["send", "event.json"]) == 0  # accepting events does create the store
    assert (workdir / "cli.db").exists()
    capsys.readouterr()
    main(command)
    assert "no database" not in capsys.readouterr().err


def test_check_refuses_a_guessable_env_token(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # A placeholder left in notifier.env would open the whole API: the unit's `check` stops
    # the start instead, saying what to put there.
    monkeypatch.setenv("NOTIFIER_API_TOKEN", "change-me")
    assert main(["check"]) == 1
    assert "NOTIFIER_API_TOKEN is only 9 characters" in capsys.readouterr().err
    made = "ntf_" + "x" * 43  # the length `notifier token new` makes
    monkeypatch.setenv("NOTIFIER_API_TOKEN", made)
    assert main(["check"]) == 0


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker", "--burst"], ["deliveries"], ["cases"],
                                     ["send", "event.json"], ["db", "version"], ["privacy", "purge"]])
def test_a_store_url_notifier_does_not_know_is_named_with_where_it_came_from(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    # A path where a URL belongs (NOTIFIER_DB=notifier.db) ended every command in a traceback.
    monkeypatch.setenv("NOTIFIER_DB", "notifier.db")
    assert main(command) == 2
    assert capsys.readouterr().err == ("error: NOTIFIER_DB: unsupported database URL 'notifier.db': "
                                       "use sqlite:///path.db or postgresql://…\n")
    assert main([*command, "--db", "mysql://notifier:s3cret@db/notifier"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --db: unsupported database URL 'mysql://notifier:***@db/notifier'")
    assert not (workdir / "notifier.db").exists()


@pytest.mark.parametrize(("flag", "value", "words"), [
    ("--port", "99999", "a TCP port, from 1 to 65535"),  # was served on port 34463 (99999 - 65536)
    ("--port", "-1", "a TCP port"),
    ("--header-timeout", "-1", "a number of seconds, more than 0"),
    ("--body-timeout", "0", "a number of seconds, more than 0"),
    ("--body-timeout", "nan", "a number of seconds, more than 0"),
    ("--max-connections", "0", "a whole number, at least 1"),
])
def test_serve_refuses_a_listening_setting_out_of_range_naming_the_flag(
        workdir: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, words: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", f"{flag}={value}"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: '{value}': {words}" in err
    assert not (workdir / "cli.db").exists()  # nothing opened


def test_json_answers_are_json_alone_on_stdout_with_the_log_lines_on_stderr(tmp_path: Path) -> None:
    # `test` starts the capture inbox and `claim` queues follow-ups, each saying so in a log
    # line: in a process with no log set-up they went to stdout, before the JSON.
    with_config(tmp_path, "version: 1\n"
                          "channels:\n"
                          "  mail: {type: email, to: [support@example.com]}\n"
                          "routes:\n"
                          "  - {name: r, match: {kinds: [support_request]}, to: [mail]}\n")
    env = {**os.environ, "NOTIFIER_CONFIG": str(tmp_path / "channels.yaml"), "NOTIFIER_DB": f"sqlite:///{tmp_path}/n.db",
           "NOTIFIER_LOG_FORMAT": "console"}

    def run(*args: str) -> tuple[Any, str]:
        done = subprocess.run([sys.executable, "-m", "notifier.cli", *args, "--json"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), done.stderr

    answer, log = run("test", "mail")
    assert answer["status"] == "sent" and "capture inbox" in log
    answer, _ = run("send", "event.json")
    answer, log = run("claim", answer[0]["case"]["id"], "--by", "marie")
    assert answer["case"]["claimed_by"] == "marie" and "follow-ups queued" in log
