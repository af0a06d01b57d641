"""The ``notifier`` command line.

Human-readable output by default, ``--json`` for scripts. Commands that need the
configuration read ``--config`` (default ``$NOTIFIER_CONFIG`` or ``./channels.yaml``);
commands that need the store read ``--db`` (default ``$NOTIFIER_DB`` or
``sqlite:///notifier.db``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.config.models import Config
from notifier.core.durations import format_duration
from notifier.core.events import Event, Kind, User
from notifier.service import Service, default_config_path, default_db_url, needs_inbox
from notifier.store import Store

if TYPE_CHECKING:
    from notifier.store.partition import Partition

__all__ = ["main"]


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _load(path: str | None, *, unset_ok: bool = False) -> Config | None:
    """The configuration, or ``None`` after printing every problem.

    ``unset_ok`` for commands that send nothing: a channel's unset ``${SECRET}`` is no problem.
    """
    p = Path(path) if path else default_config_path()
    try:
        return load_config(p, unset_ok=unset_ok)
    except FileNotFoundError:
        print(f"{p}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{_count(len(exc.issues), 'problem')} in {p}", file=sys.stderr)
    return None


def _read_events(source: str) -> list[Event]:
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    data = orjson.loads(raw)
    items = data if isinstance(data, list) else [data]
    return [Event.model_validate(item) for item in items]


# --------------------------------------------------------------------------- serve / worker


def _cmd_serve(args: argparse.Namespace) -> int:
    from notifier.api import create_app
    from notifier.auth import ENV_TOKEN
    from notifier.auth_cli import exposure_refusal, exposure_warning
    from notifier.console.session import ENV_SECRET as CONSOLE_SECRET
    from notifier.http_guard import Limits
    from notifier.logs import configure_logging
    from notifier.server import serve_http
    from notifier.startup import PortUnavailable, bind, capture_allowed, capture_problems, summary

    configure_logging(args.log_level)
    capture = capture_allowed(args.host, args.dev)
    from notifier.worker_processes import default_workers

    db_url = args.db or default_db_url()
    workers = 0 if args.no_worker else (args.workers or default_workers(db_url))
    from notifier.store.partition import Partition, shares_claims

    options: dict[str, Any] = {}
    if workers > 1 and shares_claims(db_url):  # this process's worker is the first share; the others run beside it
        options["partition"] = Partition(0, workers)
    try:
        service = Service(args.config, args.db, capture=capture, worker_options=options)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"{exc.filename}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
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
    config = _load(args.config)
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
        service = Service(args.config, args.db, config=config, capture=args.dev, worker_options=options)
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

    return asyncio.run(go())


# --------------------------------------------------------------------------- config tools


def _cmd_check(args: argparse.Namespace) -> int:
    from notifier.service import checked_renderer

    config = _load(args.file)
    if config is None:
        return 1
    path = args.file or default_config_path()
    try:
        renderer = checked_renderer(config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{_count(len(exc.issues), 'problem')} in the templates of {path}", file=sys.stderr)
        return 1
    for unused in renderer.unused_overrides():
        print(f"warning: {unused}", file=sys.stderr)
    from notifier.startup import capture_problems

    if not args.dev:
        problems = capture_problems(config)
        for problem in problems:
            print(f"{path}: error: {problem}", file=sys.stderr)
        if problems:
            return 1
    print(f"{path}: OK — {_count(len(config.channels), 'channel')}, {_count(len(config.routes), 'route')}, "
          f"{_count(len(config.digests), 'digest')}; fallback: {', '.join(config.fallback_channels) or 'none'}")
    print(f"retention: {config.defaults.retention.describe()}")
    if args.dev and needs_inbox(config):
        print("note: email without SMTP goes to the capture inbox (--dev): nobody receives it", file=sys.stderr)
    from notifier.config.loader import load_config_warnings

    for warning in load_config_warnings(path):
        print(f"warning: {warning}", file=sys.stderr)
    if not config.fallback_channels:
        print("warning: no fallback channel: a support request that no route takes is only stored",
              file=sys.stderr)
    from notifier.action_links import links_off_reason

    off = links_off_reason(config)
    if off and any(ch.type in ("email", "teams") for ch in config.channels.values()):
        print(f"note: email and Teams alerts carry no \"I'm on it\" / \"Resolved\" links: {off}", file=sys.stderr)
    return 0


def _count(n: int, word: str) -> str:
    """``1 channel``, ``2 channels``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cmd_schema(args: argparse.Namespace) -> int:
    from notifier.config.schema import event_json_schema, json_schema

    print(json.dumps(event_json_schema() if args.event else json_schema(), indent=2, ensure_ascii=False))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from notifier.worker import utcnow

    config = _load(args.config, unset_ok=not args.render)
    if config is None:
        return 1
    try:
        events = _read_events(args.event)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 1
    from notifier.explain import explain, previews

    now = utcnow()
    out = []
    for event in events:
        event = event.completed(now, "explain")
        item, routed = explain(config, event, now)
        item["retention"] = _kept(config, now)
        if args.render:
            item["rendered"] = {p.channel: p.text for p in asyncio.run(previews(config, event, routed))}
        out.append(item)
    if args.json:
        _print_json(out if len(out) > 1 else out[0])
        return 0
    for item in out:
        print(f"event {item['event']} ({item['kind']})")
        for r in item["routes"]:
            mark = "✔" if r["matched"] else "✘"
            print(f"  {mark} route {r['route']}: {'; '.join(x for x in r['reasons'] if x)}")
        if item["fallback"]:
            print("  → no route took this request: fallback")
        if item.get("action_links", "on") != "on":
            print(f"  → action links {item['action_links']}")
        if not item["deliveries"]:
            print("  → no channel receives it (it is stored and counted in digests)")
        for d in item["deliveries"]:
            print(f"  → {d['channel']} (route {d['route']}, priority {d['priority']}, "
                  f"dedup key {d['dedup_key'] or 'none'} for {d['dedup_window']})")
            if d.get("dedup_warning"):
                print(f"    warning: {d['dedup_warning']}")
        kept = item["retention"]
        print(f"  kept until {kept['event_until'][:10]} (events: {kept['events']}); its finished deliveries "
              f"until {kept['deliveries_until'][:10]} (deliveries: {kept['deliveries']})")
        for name, text in item.get("rendered", {}).items():
            print(f"\n===== {name} =====\n{text}")
    return 0


def _kept(config: Config, received: datetime) -> dict[str, str]:
    """How long an event received at ``received`` and its deliveries are kept (``explain``)."""
    r = config.defaults.retention
    return {"events": format_duration(r.events), "deliveries": format_duration(r.deliveries),
            "cases": format_duration(r.cases), "event_until": (received + r.events).isoformat(),
            "deliveries_until": (received + r.deliveries).isoformat()}


# --------------------------------------------------------------------------- store tools


def _with_service(args: argparse.Namespace, fn: Callable[[Service], Awaitable[int]],
                  *, open_channels: bool = False) -> int:
    config = _load(args.config, unset_ok=not open_channels)
    if config is None:
        return 1

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


def _with_store(args: argparse.Namespace, fn: Callable[[Store], Awaitable[int]]) -> int:
    """Run ``fn`` on the store alone: no configuration, so no channel secret is needed."""
    from notifier.service import default_db_url
    from notifier.store import store_for

    async def go() -> int:
        store = store_for(args.db or default_db_url())
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())


def _cmd_send(args: argparse.Namespace) -> int:
    try:
        events = _read_events(args.event)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 1
    if args.url:
        import httpx

        token = args.token or os.environ.get("NOTIFIER_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = [e.model_dump(mode="json", exclude_none=True) for e in events]
        content = orjson.dumps(body if len(body) > 1 else body[0])
        headers["Content-Type"] = "application/json"
        if args.hmac_secret:
            import time

            from notifier.auth import sign_body

            now = int(time.time())
            headers["X-Notifier-Timestamp"] = str(now)
            headers["X-Notifier-Signature"] = sign_body(args.hmac_secret, now, content)
        r = httpx.post(args.url.rstrip("/") + "/v1/events", content=content, headers=headers, timeout=30)
        print(r.text)
        return 0 if r.status_code == 202 else 1

    async def go(service: Service) -> int:
        results = await service.accept(events)
        if args.json:
            _print_json([r.to_json() for r in results])
            return 0
        for r in results:
            if r.duplicate:
                print(f"{r.id}: already received (duplicate), nothing new to deliver")
                continue
            print(f"{r.id}: accepted")
            for d in r.deliveries:
                extra = f", +{d.folded} similar" if d.folded else ""
                print(f"  → {d.channel} via {d.route}: {d.status}{extra}")
            if not r.deliveries:
                print("  → no channel (stored for digests)")
        print("a running `notifier serve` or `notifier worker` delivers them", file=sys.stderr)
        return 0

    return _with_service(args, go)


def _fmt_time(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _cmd_deliveries(args: argparse.Namespace) -> int:
    async def go(store: Store) -> int:
        rows = await store.list_deliveries(status=args.status, channel=args.channel,
                                                   event_id=args.event, limit=args.limit)
        if args.json:
            _print_json([d.to_json() for d in rows])
            return 0
        if not rows:
            print("no deliveries" + (f" with status {args.status}" if args.status else ""))
            return 0
        print(f"{'ID':<32}  {'STATUS':<10} {'CHANNEL':<16} {'TRIES':>5}  {'UPDATED':<19}  LAST ERROR / REF")
        for d in rows:
            detail = d.last_error if d.status in ("dead", "pending") and d.last_error else (d.ref or "")
            print(f"{d.id:<32}  {d.status:<10} {d.channel[:16]:<16} {d.attempts:>5}  "
                  f"{_fmt_time(d.updated_at):<19}  {detail[:120]}")
        return 0

    return _with_store(args, go)


def _cmd_replay(args: argparse.Namespace) -> int:
    from notifier.runfile import reload_running, running
    from notifier.service import default_db_url
    from notifier.worker import utcnow

    if not args.id and not args.dead:
        print("give a delivery ID or --dead", file=sys.stderr)
        return 2
    # A dead letter is usually fixed by editing channels.yaml: the processes that will send
    # it again must use the edited file, so they reload first (and a refused file stops here).
    config_path = Path(args.config) if args.config else default_config_path()
    db_url = args.db or default_db_url()
    said, problems = reload_running(db_url, config_path, timeout=args.reload_timeout)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print("nothing replayed: fix the problem above, then run this command again", file=sys.stderr)
        return 1
    if not said and not running(db_url, config_path):
        said.append(f"no notifier serve or worker runs here with {config_path}: the deliveries wait for "
                    "the next one started, which reads the current file")

    async def go(store: Store) -> int:
        ids = await store.replay(utcnow(), args.id, all_dead=args.dead)
        if args.json:
            _print_json({"replayed": ids, "reload": said})
            return 0 if ids or args.dead else 1
        for sentence in said:
            print(sentence)
        if ids:
            print(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued again: {', '.join(ids[:20])}"
                  + (" …" if len(ids) > 20 else ""))
        else:
            print("nothing to replay" + (f": {args.id} is not a dead or sent delivery" if args.id else ""))
        return 0 if ids or args.dead else 1

    return _with_store(args, go)


def _cmd_test(args: argparse.Namespace) -> int:
    from notifier.channels import Outbound
    from notifier.core.events import Page, Priority, Turn

    async def go(service: Service) -> int:
        channel = service.channels.get(args.channel)
        if channel is None:
            from notifier.config.errors import did_you_mean

            print(f"unknown channel {args.channel!r}{did_you_mean(args.channel, service.channels)}",
                  file=sys.stderr)
            return 1
        now = service.clock()
        locale = service.config.defaults.locale
        text = ("Ceci est un test de notifier : pouvez-vous me rappeler ?" if locale == "fr"
                else "This is a notifier test: can someone call me back?")
        # Sample personal data in the visitor's text, so the channel's data policy shows.
        sample = ("Mon numéro : 06 12 34 56 78, mon email : test@example.com" if locale == "fr"
                  else "My number is +44 20 7946 0958, my email test@example.com")
        event = Event(kind=Kind.support_request, site="test.notifier", conversation_id="test",
                      message=text, page=Page(url="https://example.com/contact", title="Contact"),
                      user=User(name="Test", email="test@example.com", phone="+33 6 12 34 56 78", consent=True),
                      transcript=[Turn(role="user", text=text), Turn(role="user", text=sample)]).completed(now)
        # The channel's privacy policy applies, as for every delivery the worker makes.
        from notifier.core.privacy import for_channel
        from notifier.core.privacy_statement import channel_statement

        policy = service.config.privacy_for(args.channel)
        channel_locale = service.config.locale_for(args.channel)
        seen = for_channel(event, policy.include, policy.redact or (), channel_locale)
        message = Outbound(delivery_id=f"test-{event.id}", event=seen, channel=args.channel, route="test",
                           priority=Priority.normal, test=True)
        result = await channel.send(message)
        statement = channel_statement(service.config, args.channel, channel_locale)
        if args.json:
            _print_json({"channel": args.channel, "status": result.status, "reason": result.reason,
                         "ref": result.ref, "retry_after": result.retry_after,
                         "privacy": {"include": policy.include, "redact": policy.redact, "statement": statement}})
        else:
            print(f"privacy: {statement}")
            verdict = {"sent": "sent ✔", "retry": "failed, would be retried", "permanent": "failed permanently"}
            print(f"{args.channel}: {verdict[result.status]}"
                  + (f" — {result.reason}" if result.reason else "") + (f" (ref {result.ref})" if result.ref else ""))
            if service.inbox is not None and result.ok and service.config.channels[args.channel].type == "email":
                print(f"captured in {service.inbox_dir}: see `notifier inbox`")
        return 0 if result.ok else 1

    return _with_service(args, go, open_channels=True)


# --------------------------------------------------------------------------- parser


ENVIRONMENT = """\
environment:
  NOTIFIER_CONFIG      channels.yaml to read (default ./channels.yaml)
  NOTIFIER_DB          store URL (default sqlite:///notifier.db; postgresql://… for several processes)
  NOTIFIER_API_TOKEN   bearer token the HTTP API requires (unset: no token asked)
  NOTIFIER_INBOX       directory of the capture inbox (default ./notifier-inbox)
  NOTIFIER_LOG_FORMAT  console or json (default: console on a terminal, json otherwise)
  SMTP_URL             the SMTP server of the sample channels.yaml, e.g.
                       smtp+starttls://user:password@mail.example.com:587
  any ${NAME} that channels.yaml refers to (tokens, webhook URLs)
"""

LOG_LEVELS = ("debug", "info", "warning", "error")


def _common(p: argparse.ArgumentParser, *, db: bool = True, json_flag: bool = True) -> None:
    p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    if db:
        p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def _running(p: argparse.ArgumentParser) -> None:
    """Flags of the long-running commands."""
    p.add_argument("--log-level", default="info", type=str.lower, choices=LOG_LEVELS,
                   help="least severe log records shown (default: info)")
    p.add_argument("--dev", action="store_true",
                   help="let email channels without SMTP deliver to the local capture inbox (trying notifier out)")


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
    _common(p, json_flag=False)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8080, help="TCP port to listen on (default 8080)")
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
    _running(p)
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a client must send its request line and headers within this time (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a client must send its whole body within this time after the headers (default 30)")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="open connections at most (default: what the open-file limit allows, up to 10000)")
    p.set_defaults(func=_cmd_serve)

    p = command("worker", "run the worker and the digest scheduler (no API)")
    _common(p, json_flag=False)
    p.add_argument("--burst", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--timeout", type=float, default=300.0, help="with --burst: give up after this many seconds")
    p.add_argument("--no-digests", action="store_true", help="do not run the digest scheduler")
    p.add_argument("--lease", type=_lease, default="30s", metavar="DURATION",
                   help="how long a claim outlives this worker's last heartbeat (renewed every third of it"
                        " while alive): if it dies, others take its deliveries after that (default 30s)")
    p.add_argument("--partition", type=_partition, default=None, metavar="I/N",
                   help="claim the share I of N of the deliveries first (others' once overdue by the lease);"
                        " `serve --workers N` starts these")
    _running(p)
    p.set_defaults(func=_cmd_worker)

    p = command("check", "validate channels.yaml; every problem with its line")
    p.add_argument("file", nargs="?", default=None,
                   help="the file to check (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    p.add_argument("--dev", action="store_true",
                   help="accept email channels without SMTP (they deliver to the local capture inbox)")
    p.set_defaults(func=_cmd_check)

    p = command("schema", "print the JSON Schema of channels.yaml (or, --event, of an event)")
    p.add_argument("--event", action="store_true", help="the JSON Schema of an event posted to /v1/events")
    p.set_defaults(func=_cmd_schema)

    p = command("explain", "show which routes match an event and which channels get it")
    p.add_argument("event", help="EVENT.json, or - for standard input")
    p.add_argument("--render", action="store_true", help="also print what each channel would receive")
    _common(p, db=False)
    p.set_defaults(func=_cmd_explain)

    p = command("send", "accept events from a file (or -) into the store")
    p.add_argument("event", help="EVENT.json (one event or an array), or - for standard input")
    p.add_argument("--url", default=None, help="post to a running notifier instead (e.g. http://127.0.0.1:8080)")
    p.add_argument("--token", default=None, help="with --url: the API token (default: $NOTIFIER_API_TOKEN)")
    p.add_argument("--hmac-secret", default=os.environ.get("NOTIFIER_HMAC_SECRET"),
                   help="with --url: sign the body for a token with hmac_secret (default: $NOTIFIER_HMAC_SECRET)")
    _common(p)
    p.set_defaults(func=_cmd_send)

    p = command("test", "send a clearly marked test support request through one channel")
    p.add_argument("channel", help="the channel's name in channels.yaml")
    _common(p)
    p.set_defaults(func=_cmd_test)

    p = command("deliveries", "list deliveries (e.g. --status dead)")
    p.add_argument("--status", choices=["pending", "claimed", "sent", "dead", "suppressed"],
                   help="only deliveries in this state")
    p.add_argument("--channel", help="only this channel's deliveries")
    p.add_argument("--event", help="only the deliveries of this event id")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    _common(p)
    p.set_defaults(func=_cmd_deliveries)

    p = command("replay", "send a dead letter (or every one, --dead) again")
    p.add_argument("id", nargs="?", help="the delivery to send again (see `notifier deliveries --status dead`)")
    p.add_argument("--dead", action="store_true", help="replay every dead letter")
    p.add_argument("--reload-timeout", type=float, default=30.0,
                   help="seconds to wait for running processes to reload an edited channels.yaml (default 30)")
    _common(p)
    p.set_defaults(func=_cmd_replay)

    from notifier.cases_cli import add_commands

    add_commands(command, _common)

    for name, module, help_text in (
        ("digest", "notifier.digest_cli", "preview or send a digest"),
        ("inbox", "notifier.inbox", "list and read the mails captured by the built-in inbox"),
        ("db", "notifier.store.cli", "database: schema upgrade and version, backup"),
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``notifier`` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "func", None) is None and getattr(args, "module", None):
        return int(importlib.import_module(args.module).run(args))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

