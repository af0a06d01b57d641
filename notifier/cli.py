"""The ``notifier`` command line.

Human-readable output by default, ``--json`` for scripts. Commands that need the
configuration read ``--config`` (default ``$NOTIFIER_CONFIG`` or ``./channels.yaml``);
commands that need the store read ``--db`` (default ``$NOTIFIER_DB`` or
``sqlite:///notifier.db``).

This module runs the long-running commands (``serve``, ``worker``), builds the parser
and dispatches; each family of commands lives beside it and registers itself:
``config_cli`` (check, schema, explain), ``delivery_cli`` (send, test, deliveries,
replay), ``cases_cli``, and the modules named in :func:`build_parser`'s table. What
they share is in ``cli_common``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import os
import secrets
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifier import cases_cli, config_cli, delivery_cli
from notifier.cli_common import add_common_flags, add_running_flags, loaded_config, run_on_fastest_loop
from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.service import Service, default_config_path, default_db_url

if TYPE_CHECKING:
    from notifier.store.partition import Partition

__all__ = ["main"]


# --------------------------------------------------------------------------- serve / worker


def _cmd_serve(args: argparse.Namespace) -> int:
    from notifier.api import create_app
    from notifier.auth import ENV_TOKEN, weak_env_token
    from notifier.auth_cli import exposure_refusal, exposure_warning
    from notifier.console.session import ENV_SECRET as CONSOLE_SECRET
    from notifier.health import stuck_after_from_env
    from notifier.http_guard import Limits
    from notifier.logs import configure_logging
    from notifier.server import serve_http
    from notifier.startup import PortUnavailable, bind, capture_allowed, capture_problems, summary

    configure_logging(args.log_level)
    # The rule `check` applies: a guessable full-access token never guards a running API.
    if weak := weak_env_token(os.environ.get(ENV_TOKEN)):
        print(f"error: {weak}", file=sys.stderr)
        return 2
    try:
        stuck_after_from_env()  # read by /healthz at every request: a typo must stop the start, not each probe
    except ValueError as exc:
        print(f"error: NOTIFIER_STUCK_AFTER: {exc}", file=sys.stderr)
        return 2
    capture = capture_allowed(args.host, args.dev)
    from notifier.worker_processes import default_workers

    db_url = args.db or default_db_url()
    workers = 0 if args.no_worker else (args.workers or default_workers(db_url))
    from notifier.store.partition import Partition, shares_claims

    options: dict[str, Any] = {}
    if workers > 1 and shares_claims(db_url):  # this process's worker is the first share; the others run beside it
        options["partition"] = Partition(0, workers)
    try:
        config_path = Path(args.config) if args.config else default_config_path()
        service = Service(config_path, args.db, config=load_config(config_path, require_channels=True),
                          capture=capture, worker_options=options, inline_store=True)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"{exc.filename}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
        return 1
    except OSError as exc:  # a directory, no permission
        print(f"{exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    refusal = exposure_refusal(args.host, service.config.auth, os.environ.get(ENV_TOKEN), args.insecure)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if warning := exposure_warning(args.host, service.config.auth, os.environ.get(ENV_TOKEN)):
        print(warning, file=sys.stderr)
    problems = [] if capture else capture_problems(service.config)
    for problem in problems:
        print(f"error: {problem} (or listen on 127.0.0.1)", file=sys.stderr)
    if problems:
        return 1
    try:
        # An extra API process of `serve --api-processes` answers on its parent's socket.
        sock = socket.socket(fileno=args.listen_fd) if args.listen_fd is not None else bind(args.host, args.port)
    except PortUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.api_processes > 1 and not os.environ.get(CONSOLE_SECRET):
        # The kernel hands each request to any of the API processes: they must all sign and
        # check console cookies and CSRF tokens with one key, or a login made in one is refused
        # by the next. One random key for this run, in the environment the children inherit
        # (never on their command line, which every user sees); lost at a restart, like
        # each process's own random key.
        os.environ[CONSOLE_SECRET] = secrets.token_urlsafe(32)
    app = create_app(service, run_worker=not args.no_worker)
    children = None
    if workers > 1 or args.api_processes > 1:
        from notifier.worker_processes import WorkerProcesses

        children = WorkerProcesses(max(workers, 1), config=service.config_path, db_url=service.db_url,
                                   log_level=args.log_level, capture=capture, api_processes=args.api_processes,
                                   api_command=_api_command(args, service), listen_fd=sock.fileno())
        app.state.worker_processes = children  # counted by /healthz

    from notifier.runfile import RunFile

    runfile = RunFile(service.db_url, service.config_path, "serve")

    def started() -> None:  # the port is ours and the service is open: say what runs
        runfile.write()
        inbox = service.inbox.address if service.inbox is not None else None
        print(summary(config=service.config, config_path=str(service.config_path),
                      store=service.db_url, inbox=inbox, host=args.host, port=sock.getsockname()[1],
                      token=bool(service.config.auth.tokens or os.environ.get(ENV_TOKEN)),
                      worker=not args.no_worker, beside=max(workers - 1, 0)),
              file=sys.stderr, flush=True)

    try:
        serve_http(app, service, sockets=[sock], on_started=started, on_reloaded=runfile.reloaded,
                   workers=children, stop_with_parent=args.listen_fd is not None,
                   limits=Limits(header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                                 max_connections=args.max_connections))
    finally:
        runfile.remove()
    return 0


def _api_command(args: argparse.Namespace, service: Service) -> list[str]:
    """The command line of an extra API process of ``serve`` (it adds ``--listen-fd``)."""
    cmd = [sys.executable, "-m", "notifier.cli", "serve", "--no-worker", "--config", str(service.config_path),
           "--db", service.db_url, "--host", args.host, "--log-level", args.log_level,
           "--header-timeout", str(args.header_timeout), "--body-timeout", str(args.body_timeout)]
    if args.max_connections is not None:
        cmd += ["--max-connections", str(args.max_connections)]
    return cmd + [flag for flag, on in (("--insecure", args.insecure), ("--dev", args.dev)) if on]


def _lease(text: str) -> timedelta:
    """``--lease``: a duration (``30s``, ``2m``; a bare number is seconds), at least a second."""
    from notifier.core.durations import parse_duration

    try:
        # A bare number is seconds (parse_duration takes numbers, not numeric strings).
        lease = parse_duration(float(text) if text.replace(".", "", 1).isdigit() else text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if lease < timedelta(seconds=1):
        raise argparse.ArgumentTypeError("a lease shorter than a second would be lost between heartbeats")
    return lease


def _count_arg(text: str) -> int:
    """A count of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number, at least 1")
    return int(text)


def _port_arg(text: str) -> int:
    """A TCP port: 1 to 65535 (0: any free one). The socket layer would take 99999 as 34463."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a TCP port, from 1 to 65535 (or 0: any free one)")
    return int(text)


def _seconds_arg(text: str) -> float:
    """A time limit in seconds, more than zero."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds, more than 0")
    return seconds


def _partition(text: str) -> Partition:
    """``--partition I/N``."""
    from notifier.store.partition import Partition

    try:
        return Partition.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_worker(args: argparse.Namespace) -> int:
    from notifier.logs import configure_logging

    configure_logging(args.log_level)
    config = loaded_config(args.config, require_channels=True)
    if config is None:
        return 1
    from notifier.startup import capture_problems

    problems = [] if args.dev else capture_problems(config)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1

    async def go() -> int:
        from notifier.server import handle_hangup

        options: dict[str, Any] = {"lease": args.lease}
        if args.partition is not None:  # another share is taken over once overdue by a lease
            options["partition"] = dataclasses.replace(args.partition, steal_after=args.lease)
        service = Service(args.config, args.db, config=config, capture=args.dev, worker_options=options,
                          inline_store=True)
        await service.open()
        assert service.worker is not None
        from notifier.server import freeze_startup_heap

        freeze_startup_heap()  # each delivery allocates; full collections would walk start-up's heap
        try:
            if args.burst:
                from notifier.escalation import fire_due

                await fire_due(service.store, service.config, service.worker.id, service.clock())
                stats = await service.worker.drain(include_retries=False, timeout=args.timeout)
                print(f"sent {stats.sent}, retried {stats.retried}, dead {stats.dead}")
                return 0
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, service.stop)
            from notifier.runfile import RunFile

            runfile = RunFile(service.db_url, service.config_path, "worker")
            handle_hangup(service, runfile.reloaded)
            from notifier.worker_processes import watch_parent

            watcher = asyncio.create_task(watch_parent(service.stop))
            runfile.write()
            share = f", partition {args.partition}" if args.partition is not None else ""
            print(f"notifier worker {service.worker.id} started (store {service.db_url}{share})", file=sys.stderr)
            try:
                await service.run(worker=True, digests=not args.no_digests)
            finally:
                watcher.cancel()
                runfile.remove()
            return 0
        finally:
            await service.close()

    return run_on_fastest_loop(go())


# --------------------------------------------------------------------------- parser


ENVIRONMENT = """\
environment:
  NOTIFIER_CONFIG          channels.yaml to read (default ./channels.yaml)
  NOTIFIER_DB              store URL (default sqlite:///notifier.db; postgresql://… for several processes)
  NOTIFIER_API_TOKEN       bearer token the HTTP API requires, 24+ characters (unset: no token asked)
  NOTIFIER_INBOX           directory of the capture inbox (default ./notifier-inbox)
  NOTIFIER_LOG_FORMAT      console or json (default: console on a terminal, json otherwise)
  NOTIFIER_LINK_SECRET     signs the action links of alerts (32+ characters, the same for every process)
  NOTIFIER_CONSOLE_SECRET  signs console sessions (set it so they survive a restart or span processes)
  NOTIFIER_HMAC_SECRET     send --url: the secret to sign bodies with, for a token that has one
  NOTIFIER_STUCK_AFTER     /healthz answers 503 when a due delivery waited longer (default 10m)
  NOTIFIER_RUN_DIR         where serve and worker note their channels.yaml for replay (default <db>.run/)
  SMTP_URL                 the SMTP server of the sample channels.yaml, e.g.
                           smtp+starttls://user:password@mail.example.com:587
  any ${NAME} that channels.yaml refers to (tokens, webhook URLs)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from notifier import __version__

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                              epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)

    parser = argparse.ArgumentParser(prog="notifier", description="Route chatbot support events to the team.",
                                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"notifier {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = command("serve", "run the HTTP API, the worker and the digest scheduler")
    add_common_flags(p, json_flag=False)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=_port_arg, default=8080, help="TCP port to listen on (default 8080)")
    p.add_argument("--no-worker", action="store_true", help="API only (run workers with `notifier worker`)")
    p.add_argument("--workers", type=_count_arg, default=None, metavar="N",
                   help="worker processes: this one and N-1 beside it (default: the number of cores,"
                        " at most 4 on SQLite); on PostgreSQL each claims its share of the deliveries first")
    p.add_argument("--api-processes", type=_count_arg, default=1, metavar="K",
                   help="processes answering the API on the same port (default 1): each has its own"
                        " transactions, so batches scale better than single events")
    p.add_argument("--listen-fd", type=int, default=None, metavar="FD",
                   help="answer on this inherited listening socket (what --api-processes passes its extra processes)")
    p.add_argument("--insecure", action="store_true",
                   help="listen on a non-loopback --host even without any API token")
    add_running_flags(p)
    p.add_argument("--header-timeout", type=_seconds_arg, default=10.0, metavar="SECONDS",
                   help="a client must send its request line and headers within this time (default 10)")
    p.add_argument("--body-timeout", type=_seconds_arg, default=30.0, metavar="SECONDS",
                   help="a client must send its whole body within this time after the headers (default 30)")
    p.add_argument("--max-connections", type=_count_arg, default=None, metavar="N",
                   help="open connections at most (default: what the open-file limit allows, up to 10000)")
    p.set_defaults(func=_cmd_serve)

    p = command("worker", "run the worker and the digest scheduler (no API)")
    add_common_flags(p, json_flag=False)
    p.add_argument("--burst", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--timeout", type=float, default=300.0, help="with --burst: give up after this many seconds")
    p.add_argument("--no-digests", action="store_true", help="do not run the digest scheduler")
    p.add_argument("--lease", type=_lease, default="30s", metavar="DURATION",
                   help="how long a claim outlives this worker's last heartbeat (renewed every third of it"
                        " while alive): if it dies, others take its deliveries after that (default 30s)")
    p.add_argument("--partition", type=_partition, default=None, metavar="I/N",
                   help="claim the share I of N of the deliveries first (others' once overdue by the lease);"
                        " `serve --workers N` starts these")
    add_running_flags(p)
    p.set_defaults(func=_cmd_worker)

    config_cli.add_commands(command)
    delivery_cli.add_commands(command)
    cases_cli.add_commands(command)

    for name, module, help_text in (
        ("digest", "notifier.digest_cli", "preview or send a digest"),
        ("inbox", "notifier.inbox", "list and read the mails captured by the built-in inbox"),
        ("db", "notifier.store.cli", "database: schema upgrade and version, compaction, backup"),
        ("token", "notifier.auth_cli", "make API tokens for channels.yaml"),
        ("privacy", "notifier.privacy_cli", "personal data: a person's export and erasure, the retention purge"),
        ("mcp", "notifier.mcp_cli", "serve the send_support_email tool over MCP on stdin/stdout"),
    ):
        p = command(name, help_text)
        p.set_defaults(module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError:
            p.set_defaults(func=lambda _a, n=name: print(f"`notifier {n}` is not available", file=sys.stderr) or 1)
    return parser


def _unsupported_store(args: argparse.Namespace) -> str | None:
    """Why the store URL a command would open is none notifier knows, naming where it came from."""
    if not hasattr(args, "db") or getattr(args, "url", None):  # no store, or `send --url` posts instead
        return None
    url = args.db or default_db_url()
    if url.startswith(("sqlite:", "postgresql://", "postgres://")):
        return None
    from notifier.store.cli import redact_url

    source = "--db" if args.db else "NOTIFIER_DB"
    return f"{source}: unsupported database URL {redact_url(url)!r}: use sqlite:///path.db or postgresql://…"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``notifier`` console script."""
    from notifier.store import SchemaMismatch, StoreUnavailable

    args = build_parser().parse_args(argv)
    from notifier.logs import logs_to_stderr

    logs_to_stderr()
    if unsupported := _unsupported_store(args):
        print(f"error: {unsupported}", file=sys.stderr)
        return 2
    try:
        if getattr(args, "func", None) is None and getattr(args, "module", None):
            return int(importlib.import_module(args.module).run(args))
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (StoreUnavailable, SchemaMismatch) as exc:
        # Any command on a database that is down, unreachable or of another version: one
        # line an operator can act on (as `notifier db` says it), not a traceback.
        from notifier.store.cli import redact_url

        print(f"error: {redact_url(getattr(args, 'db', None) or default_db_url())}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

