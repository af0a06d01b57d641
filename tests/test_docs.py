"""The documentation says what the product does: README.md and docs/*.md, checked against it.

- Every ``channels.yaml`` example passes ``notifier check`` (a fragment, merged into the
  README's complete example, as an admin would paste it), with no warning.
- Every ``notifier …`` command shown names a command that exists, with flags it takes.
- Every event shown (a JSON block with a ``kind``, the body of a ``curl -d``) is one the API
  accepts.
- Every endpoint named exists, and every operation of ``/openapi.json`` is named; every link
  between the pages reaches a file and a heading; every command, every channels.yaml key and
  every environment variable notifier reads is documented.

Other YAML (the Slack app manifest) is only parsed: a block mixing channels.yaml keys with
others is refused, since it would be neither.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from notifier.cli import build_parser, main
from notifier.config.models import Config
from notifier.core.events import Event
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page, its text unindented."""

    page: Path
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(lang: str | None = None) -> Iterator[Block]:
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            if lang is None or m["lang"] == lang:
                cut = len(m["indent"])
                body = "\n".join(line[cut:] for line in m["body"].splitlines()) + "\n"
                yield Block(page, text.count("\n", 0, m.start()) + 1, m["lang"], body)


YAML_BLOCKS = list(blocks("yaml"))
CONFIG_KEYS = set(Config.model_fields)


def _complete_example() -> dict[str, Any]:
    complete = [b for b in YAML_BLOCKS if b.page.name == "README.md" and yaml.safe_load(b.text).get("version")]
    assert len(complete) == 1, "README.md shows one complete channels.yaml"
    data: dict[str, Any] = yaml.safe_load(complete[0].text)
    return data


def _pasted(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """``fragment`` pasted into ``base``: sections merged, a channel or a list replaced whole."""
    out = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            inner = out[key]
            for k, v in value.items():
                if key != "channels" and isinstance(v, dict) and isinstance(inner.get(k), dict):
                    inner[k] = {**inner[k], **v}
                else:
                    inner[k] = v
        else:
            out[key] = value
    return out


def _environment(text: str) -> dict[str, str]:
    """A plausible value for each ``${NAME}`` the example refers to, as an admin sets them."""
    env = {}
    for name in set(re.findall(r"\$\{(\w+)", text)):
        if name == "SMTP_URL":
            env[name] = "smtp+starttls://notifier:secret@mail.example.com:587"
        elif name.startswith("HOOK_SIGNING"):
            env[name] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        elif name.endswith("_URL"):
            env[name] = "https://hooks.example.com/" + name.lower()
        else:
            env[name] = "s3cr3t-" + name.lower() + "-0123456789abcdef0123456789"
    return env


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=str)
def test_every_channels_yaml_example_passes_notifier_check(
        block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block}: a YAML example is a mapping"
    ours = set(data) & CONFIG_KEYS
    if not ours:
        return  # another file (the Slack app manifest): it parsed, that is all we can say
    assert ours == set(data), f"{block}: keys that channels.yaml does not take: {sorted(set(data) - ours)}"
    config = data if "version" in data else _pasted(_complete_example(), data)
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    if isinstance(config.get("templates"), str):
        (tmp_path / config["templates"]).mkdir(parents=True)
    for name, value in _environment(path.read_text(encoding="utf-8")).items():
        monkeypatch.setenv(name, value)
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code == 0, f"{block}: `notifier check` refuses the example:\n{err}"
    assert "warning:" not in err, f"{block}: `notifier check` warns about the example:\n{err}"


def test_the_repositorys_channels_yaml_passes_notifier_check_dev(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # What `notifier serve` starts with in a fresh clone (its header says to check it with --dev).
    monkeypatch.delenv("SMTP_URL", raising=False)
    assert main(["check", "--dev", str(ROOT / "channels.yaml")]) == 0
    err = capsys.readouterr().err
    assert "warning:" not in err, err
    assert "check --dev" in (ROOT / "channels.yaml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- commands

def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _code(page: Path) -> Iterator[tuple[int, str]]:
    """Each line of code on a page (shell blocks, inline spans), with its line number."""
    text = page.read_text(encoding="utf-8")
    for m in _FENCE.finditer(text):
        if m["lang"] in ("sh", ""):
            first = text.count("\n", 0, m.start()) + 2
            for n, line in enumerate(m["body"].replace("\\\n", " ").splitlines()):
                yield first + n, line
    prose = _FENCE.sub(lambda m: "\n" * m[0].count("\n"), text)
    for m in re.finditer(r"`([^`\n]+)`", prose):
        yield prose.count("\n", 0, m.start()) + 1, m[1]


# `notifier CMD` at the start of a command: alone, after a path (/opt/…/bin/notifier), or in
# a table cell's `claim\|resolve` alternatives. `sudo -u notifier` (the user) is no command.
_COMMAND = re.compile(r"(?:^|[\s/'\"(;&|])(?<!-[ugo] )notifier\s+"
                      r"(?P<names>[a-z][\w-]*(?:\\?\|[a-z][\w-]*)*)(?P<rest>[^#]*)")


def _shown_commands() -> Iterator[tuple[str, str, list[str], str]]:
    for page in DOCS:
        for line, code in _code(page):
            for m in _COMMAND.finditer(code):
                names = m["names"].replace("\\|", "|").split("|")
                yield f"{page.relative_to(ROOT)}:{line}", m[0].strip(), names, m["rest"]


def test_the_docs_show_commands() -> None:
    # The check below would pass on pages it no longer finds commands in.
    assert len([c for c in _shown_commands() if c[0].startswith("README.md")]) > 30


def test_every_command_shown_exists_with_its_flags() -> None:
    commands = _subcommands(build_parser())
    problems = []
    for where, shown, names, rest in _shown_commands():
        if names[0] not in commands and shown.startswith("notifier listening"):
            continue  # "notifier listening on …" is what serve prints, not a command
        for name in names:
            parser = commands.get(name)
            if parser is None:
                problems.append(f"{where}: no command `notifier {name}` ({shown!r})")
                continue
            targets = [parser]
            actions = _subcommands(parser)
            if actions:  # `notifier db backup`, `notifier privacy export|erase`
                words = [w for w in rest.split() if not w.startswith("-")]
                picked = words[0].replace("\\|", "|").split("|") if words else []
                targets = [actions[a] for a in picked if a in actions]
                if not targets or len(targets) != len(picked):
                    problems.append(f"{where}: `notifier {name}` takes one of {sorted(actions)} ({shown!r})")
                    continue
            for target in targets:
                for flag in re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", rest):
                    if flag not in _flags(target):
                        problems.append(f"{where}: `{target.prog}` has no {flag} ({shown!r})")
    assert not problems, "\n".join(problems)



# --------------------------------------------------------------------------- events

def _shown_events() -> Iterator[tuple[str, str]]:
    for block in blocks("json"):
        if '"kind"' in block.text:
            yield str(block), block.text
    for block in blocks("sh"):
        words = shlex.split(block.text.replace("\\\n", " "), comments=True)
        if words[:1] == ["curl"]:
            for flag, body in itertools.pairwise(words):
                if flag in ("-d", "--data", "--data-binary"):
                    yield str(block), body


def test_every_event_shown_is_accepted() -> None:
    shown = list(_shown_events())
    assert any(where.startswith("README.md") for where, _ in shown), "the README's curl example is checked"
    problems = []
    for where, text in shown:
        data = json.loads(text)
        for event in data if isinstance(data, list) else [data]:
            try:
                Event.model_validate(event)  # what POST /v1/events validates
            except ValidationError as exc:
                problems.append(f"{where}: {exc}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- environment

#: Set by notifier for its own child processes, not by anyone else.
_INTERNAL = {"NOTIFIER_PARENT_PID"}


def test_every_variable_notifier_reads_is_in_its_help_and_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    read = set()
    for module in (ROOT / "notifier").rglob("*.py"):
        read |= set(re.findall(r"\"(NOTIFIER_[A-Z_]*[A-Z])\"", module.read_text(encoding="utf-8")))
    assert {"NOTIFIER_CONFIG", "NOTIFIER_DB", "NOTIFIER_API_TOKEN"} <= read  # the search finds them
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert sorted(name for name in read - _INTERNAL if name not in shown) == []
    assert sorted(name for name in read - _INTERNAL if f"`{name}`" not in readme) == []


# --------------------------------------------------------------------------- links

def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as -."""
    prose = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", prose, re.M)}


def test_every_link_between_the_pages_reaches_a_file_and_a_heading() -> None:
    broken = []
    for page in DOCS:
        for m in re.finditer(r"\]\((?P<target>[^)#\s]*)(?:#(?P<anchor>[^)\s]+))?\)", page.read_text(encoding="utf-8")):
            if m["target"].startswith(("http://", "https://", "mailto:")):
                continue
            target = (page.parent / m["target"]).resolve() if m["target"] else page
            where = f"{page.relative_to(ROOT)}: {m[0]}"
            if not target.exists():
                broken.append(f"{where}: no such file")
            elif m["anchor"] and target.suffix == ".md" and m["anchor"] not in _anchors(target):
                broken.append(f"{where}: no such heading")
    assert not broken, "\n".join(broken)


# --------------------------------------------------------------------------- channels.yaml keys

def _schema_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for value in node.values():
            yield from _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_keys(value)


def test_every_key_of_channels_yaml_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    keys = set(_schema_keys(json.loads(capsys.readouterr().out)))
    assert {"channels", "webhook_secret", "escalate"} <= keys  # the walk reaches nested settings
    code = ""
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        code += "".join(m["body"] for m in _FENCE.finditer(text))
        code += " ".join(re.findall(r"`([^`\n]+)`", _FENCE.sub("", text)))
    assert sorted(k for k in keys if not re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", code)) == []


def test_the_readme_shows_every_command() -> None:
    shown = set()
    for where, _, names, rest in _shown_commands():
        if where.startswith("README.md"):
            words = [w for w in rest.split() if not w.startswith("-")]
            for name in names:
                shown.add(name)
                shown.update(f"{name} {a}" for a in (words[0].replace("\\|", "|").split("|") if words else []))
    missing = []
    for name, parser in _subcommands(build_parser()).items():
        actions = _subcommands(parser)
        missing += [f"{name} {a}" for a in actions if f"{name} {a}" not in shown] if actions else \
            ([name] if name not in shown else [])
    assert missing == []


# --------------------------------------------------------------------------- HTTP endpoints

_ENDPOINT = re.compile(r"`(?P<methods>(?:GET|POST|DELETE|PUT|PATCH)(?:\|(?:GET|POST|DELETE|PUT|PATCH))*) "
                       r"(?P<path>/(?:v1|mcp|healthz|metrics|console|docs|openapi)[^`\s\[?]*)")


def _pattern(path: str) -> re.Pattern[str]:
    """A route's path as a regex: each ``{parameter}`` is one segment."""
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part)
                              for part in re.split(r"(\{[^}]+\})", path)) + "$")


def _documented() -> set[tuple[str, str]]:
    out = set()
    for page in DOCS:
        for m in _ENDPOINT.finditer(page.read_text(encoding="utf-8")):
            path = re.sub(r"<[^>]+>", "{x}", m["path"])
            head, _, last = path.rpartition("/")
            for method in m["methods"].split("|"):
                for tail in last.split("|"):  # /v1/cases/{id}/claim|resolve|reopen
                    out.add((method, f"{head}/{tail}"))
    return out


async def test_every_endpoint_the_docs_name_exists_and_every_api_operation_is_named(
        make_service: ServiceFactory, sink: Sink) -> None:
    import httpx
    from fastapi import FastAPI

    from notifier.api import create_app

    app = create_app(await make_service(webhook_config(sink.url)), manage=False)
    documented = _documented()
    assert ("POST", "/v1/events") in documented
    unknown = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for method, path in sorted(documented):
            # A request to each, as written (a made-up id where it takes one): the router's own
            # 404 or 405 means no such endpoint; a handler's answer (even 404 "no case …") does.
            r = await client.request(method, path.replace("{id}", "x1").replace("{x}", "zendesk"), json={})
            if r.status_code == 405 or r.content == b'{"detail":"Not Found"}':
                unknown.append(f"{method} {path}")
    assert unknown == [], "the docs name endpoints the API does not have"
    inner: Any = app
    while not isinstance(inner, FastAPI):  # under the middlewares (access log, browser access…)
        inner = inner.app
    unnamed = [f"{m.upper()} {path}" for path, item in inner.openapi()["paths"].items() for m in item
               if not any(m.upper() == dm and _pattern(path).match(dp) for dm, dp in documented)]
    assert unnamed == [], "operations of /openapi.json the docs never name"


def test_the_mcp_host_configuration_starts_notifier_on_the_installed_store() -> None:
    configs = [json.loads(b.text) for b in blocks("json") if '"mcpServers"' in b.text]
    assert configs, "docs/integrations.md shows an MCP host's configuration"
    for config in configs:
        for server in config["mcpServers"].values():
            assert Path(server["command"]).name == "notifier"
            build_parser().parse_args(server["args"])  # a command notifier takes (exits if not)
            # Without both, `notifier mcp` would read ./channels.yaml and write ./notifier.db
            assert {"NOTIFIER_CONFIG", "NOTIFIER_DB"} <= set(server["env"])
