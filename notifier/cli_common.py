"""What the ``notifier`` commands share: their common flags, loading channels.yaml with
every problem printed, opening the service or the store around a command, and printing.

Every command module (``cli``, ``config_cli``, ``delivery_cli``, ``cases_cli``…) imports
from here, and none from ``cli``: ``cli`` builds the parser from them, so the imports
point one way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar

import orjson

from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.config.models import Config
from notifier.core.events import Event
from notifier.service import Service, default_config_path, default_db_url
from notifier.store import Store

__all__ = ["LOG_LEVELS", "AddCommand", "add_common_flags", "add_running_flags", "counted", "loaded_config",
           "local_time", "missing_database", "print_json", "read_events", "with_service", "with_store"]

LOG_LEVELS = ("debug", "info", "warning", "error")

_T = TypeVar("_T")

AddCommand = Callable[[str, str], argparse.ArgumentParser]
"""``command(name, help)``: a new ``notifier NAME`` sub-parser (what ``add_commands`` functions receive)."""


def run_on_fastest_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on uvloop when it is installed (it comes with uvicorn[standard],
    and ``serve`` runs on it), else on asyncio's own loop.

    The worker waits on two other threads (SQLite's writer and the HTTP client's tokio
    runtime) that hand their results to the loop; uvloop takes those hand-overs for about
    a quarter less CPU per delivery (``bench/worker_cpu.py``, docs/benchmarks.md).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def add_common_flags(p: argparse.ArgumentParser, *, db: bool = True, json_flag: bool = True) -> None:
    """``--config``, and unless told otherwise ``--db`` and ``--json``."""
    p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    if db:
        p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def add_running_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the long-running commands."""
    p.add_argument("--log-level", default="info", type=str.lower, choices=LOG_LEVELS,
                   help="least severe log records shown (default: info)")
    p.add_argument("--dev", action="store_true",
                   help="let email channels without SMTP deliver to the local capture inbox (trying notifier out)")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (``--json``)."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def counted(n: int, word: str) -> str:
    """``1 channel``, ``2 channels``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def local_time(value: Any, zone: tzinfo | None = None) -> str:
    """A stored time in ``zone`` (else this machine's), to the second, with the zone's name,
    for tables (``-`` when unset). Give ``defaults.timezone``: the one mails and digests show,
    which the team reads in, whatever zone the server runs in."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def loaded_config(path: str | None, *, unset_ok: bool = False, require_channels: bool = False) -> Config | None:
    """The configuration, or ``None`` after printing every problem.

    ``unset_ok`` for commands that send nothing: a channel's unset ``${SECRET}`` is no problem.
    ``require_channels`` for those that deliver: a file without any channel is refused.
    """
    p = Path(path) if path else default_config_path()
    try:
        return load_config(p, unset_ok=unset_ok, require_channels=require_channels)
    except FileNotFoundError:
        print(f"{p}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
    except OSError as exc:  # a directory, no permission
        print(f"{p}: {exc.strerror or exc}", file=sys.stderr)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{counted(len(exc.issues), 'problem')} in {p}", file=sys.stderr)
    return None


def _json_lines(raw: bytes) -> tuple[list[Any], list[int]] | None:
    """The documents of a JSON Lines file (one event per line) and their line numbers;
    ``None`` when ``raw`` is not several lines of JSON. Every bad line is named at once."""
    lines = [(n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if len(lines) < 2:
        return None
    docs, bad = [], []
    for n, line in lines:
        try:
            docs.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            bad.append(f"line {n}, column {exc.colno}: {exc.msg}")
    if len(bad) == len(lines):  # not JSON Lines either: the whole file's own error says more
        return None
    if bad:
        raise ValueError("not JSON on every line (one event per line)" + "".join(f"\n  {b}" for b in bad))
    return docs, [n for n, _ in lines]


def read_events(source: str) -> list[Event]:
    """The events of a JSON file (one event or an array) or of a JSON Lines file (one event
    per line); ``-`` for standard input. Nothing is returned unless every event is valid."""
    from pydantic import TypeAdapter, ValidationError

    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    line_of: list[int] | None = None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        lines = _json_lines(raw)
        if lines is None:
            raise
        data, line_of = lines
    batch = isinstance(data, list)
    try:
        return TypeAdapter(list[Event]).validate_python(data if batch else [data])
    except ValidationError as exc:
        from notifier.api_responses import validation_details

        # The API's words for the same event, so a file tried here reads as its answer would.
        details = validation_details(exc, batch=True)
        if line_of is not None:
            details = [{**d, "path": _on_line(d["path"], line_of)} for d in details]
        elif not batch:
            details = [{**d, "path": d["path"].removeprefix("[0].").removeprefix("[0]")} for d in details]
        raise ValueError("invalid event" + "".join(f"\n  {d['path']}: {d['message']}" for d in details)) from None


def _on_line(path: str, line_of: list[int]) -> str:
    """``[3].user.email`` of a JSON Lines file as ``line 7: user.email``."""
    if not path.startswith("["):
        return path
    index, _, rest = path[1:].partition("]")
    if not index.isdigit() or int(index) >= len(line_of):
        return path
    rest = rest.removeprefix(".")
    return f"line {line_of[int(index)]}" + (f": {rest}" if rest else "")


def missing_database(url: str) -> str | None:
    """Why ``url`` names no database yet: a SQLite file that does not exist (else ``None``).

    Commands that read or act on what notifier stored refuse it rather than create an empty
    one: in the wrong directory, `deliveries --status dead` would answer "no deliveries".
    """
    if not url.startswith("sqlite:"):
        return None
    path = url.split("sqlite://", 1)[1].removeprefix("/")
    if not path or path == ":memory:" or Path(path).exists():
        return None
    return (f"error: {url}: no database at {Path(path).resolve()}: run this where notifier runs, "
            "or give --db (or NOTIFIER_DB)")


def with_service(args: argparse.Namespace, fn: Callable[[Service], Awaitable[int]],
                 *, open_channels: bool = False, create: bool = False) -> int:
    """Run ``fn`` on the service of ``--config`` and ``--db``; its exit code, 1 if the configuration is refused.

    Without ``open_channels`` only the store is opened, and a channel's unset secret is no problem.
    Without ``create``, a SQLite database that does not exist is an error (exit status 2).
    """
    config = loaded_config(args.config, unset_ok=not open_channels)
    if config is None:
        return 1
    missing = None if create else missing_database(args.db or default_db_url())
    if missing:
        print(missing, file=sys.stderr)
        return 2

    async def go() -> int:
        service = Service(args.config, args.db, config=config)
        if open_channels:
            await service.open()
        else:
            await service.store.open()
        try:
            return await fn(service)
        finally:
            if open_channels:
                await service.close()
            else:
                await service.store.close()

    return asyncio.run(go())


def with_store(args: argparse.Namespace, fn: Callable[[Store], Awaitable[int]]) -> int:
    """Run ``fn`` on the store alone: no configuration, so no channel secret is needed.

    A SQLite database that does not exist is an error (exit status 2), not created.
    """
    from notifier.store import store_for

    missing = missing_database(args.db or default_db_url())
    if missing:
        print(missing, file=sys.stderr)
        return 2

    async def go() -> int:
        store = store_for(args.db or default_db_url())
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())
