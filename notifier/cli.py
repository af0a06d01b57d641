"""The ``notifier`` command line.

Human-readable output by default, ``--json`` for scripts. Commands that need the
configuration read ``--config`` (default ``$NOTIFIER_CONFIG`` or ``./channels.yaml``);
commands that need the store read ``--db`` (default ``$NOTIFIER_DB`` or
``sqlite:///notifier.db``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.config.models import Config
from notifier.core.events import Event, Kind, User
from notifier.service import Service, default_config_path

__all__ = ["main"]


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _load(path: str | None) -> Config | None:
    """The configuration, or ``None`` after printing every problem."""
    p = Path(path) if path else default_config_path()
    try:
        return load_config(p)
    except FileNotFoundError:
        print(f"{p}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{len(exc.issues)} problem(s) in {p}", file=sys.stderr)
    return None


def _read_events(source: str) -> list[Event]:
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    data = orjson.loads(raw)
    items = data if isinstance(data, list) else [data]
    return [Event.model_validate(item) for item in items]


# --------------------------------------------------------------------------- serve / worker


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from notifier.api import create_app
    from notifier.auth import ENV_TOKEN
    from notifier.auth_cli import exposure_refusal
    from notifier.logs import configure_logging

    configure_logging(args.log_level)
    try:
        service = Service(args.config, args.db)
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
    app = create_app(service, run_worker=not args.no_worker)
    print(f"notifier listening on http://{args.host}:{args.port}  "
          f"(config {service.config_path}, store {service.db_url}"
          f"{', API only' if args.no_worker else ''})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from notifier.logs import configure_logging

    configure_logging(args.log_level)
    config = _load(args.config)
    if config is None:
        return 1

    async def go() -> int:
        from datetime import timedelta

        service = Service(args.config, args.db, config=config,
                          worker_options={"lease": timedelta(seconds=args.lease)})
        await service.open()
        assert service.worker is not None
        try:
            if args.burst:
                stats = await service.worker.drain(include_retries=False, timeout=args.timeout)
                print(f"sent {stats.sent}, retried {stats.retried}, dead {stats.dead}")
                return 0
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, service.stop)
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_reload(service)))
            print(f"notifier worker {service.worker.id} started (store {service.db_url})", file=sys.stderr)
            await service.run(worker=True, digests=not args.no_digests)
            return 0
        finally:
            await service.close()

    return asyncio.run(go())


async def _reload(service: Service) -> None:
    problems = await service.reload()
    for p in problems:
        print(f"reload refused: {p}", file=sys.stderr)


# --------------------------------------------------------------------------- config tools


def _cmd_check(args: argparse.Namespace) -> int:
    from notifier.service import checked_renderer

    config = _load(args.file)
    if config is None:
        return 1
    try:
        checked_renderer(config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    path = args.file or default_config_path()
    print(f"{path}: OK — {len(config.channels)} channels, {len(config.routes)} routes, "
          f"{len(config.digests)} digests; fallback: {', '.join(config.fallback_channels) or 'none'}")
    from notifier.config.loader import load_config_warnings

    for warning in load_config_warnings(path):
        print(f"warning: {warning}", file=sys.stderr)
    if not config.fallback_channels:
        print("warning: no fallback channel: a support request that no route takes is only stored",
              file=sys.stderr)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from notifier.config.schema import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from notifier.core.routing import plan
    from notifier.worker import utcnow

    config = _load(args.config)
    if config is None:
        return 1
    try:
        events = _read_events(args.event)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 1
    now = utcnow()
    out = []
    for event in events:
        event = event.completed(now, "explain")
        routed = plan(config, event, now)
        item: dict[str, Any] = {
            "event": event.id,
            "kind": event.kind.value,
            "routes": [{"route": v.route, "matched": v.matched, "reasons": v.reasons} for v in routed.verdicts],
            "deliveries": [{"route": d.route, "channel": d.channel, "priority": d.priority.value,
                            "dedup_key": d.dedup_key, "dedup_window": str(d.dedup_window)}
                           for d in routed.deliveries],
            "fallback": routed.used_fallback,
        }
        if args.render:
            item["rendered"] = asyncio.run(_previews(config, event, routed))
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
        if not item["deliveries"]:
            print("  → no channel receives it (it is stored and counted in digests)")
        for d in item["deliveries"]:
            print(f"  → {d['channel']} (route {d['route']}, priority {d['priority']}, "
                  f"dedup key {d['dedup_key'] or 'none'} for {d['dedup_window']})")
        for name, text in item.get("rendered", {}).items():
            print(f"\n===== {name} =====\n{text}")
    return 0


async def _previews(config: Config, event: Event, routed: Any) -> dict[str, str]:
    from notifier.channels import ChannelContext, Outbound, build_channel
    from notifier.render import Renderer

    renderer = Renderer(config.templates)
    ctx = ChannelContext(defaults=config.defaults, renderer=renderer, inbox="127.0.0.1:0",
                         event_url=config.defaults.event_url)
    out = {}
    for d in routed.deliveries:
        channel = build_channel(d.channel, config.channels[d.channel], ctx)
        module = importlib.import_module(f"notifier.channels.{channel.type}")
        message = Outbound(delivery_id="preview", event=event, channel=d.channel, route=d.route,
                           priority=d.priority, keywords=tuple(routed.keywords))
        try:
            out[d.channel] = module.preview(channel, message)
        except Exception as exc:  # show the problem in place of the preview
            out[d.channel] = f"(cannot render: {type(exc).__name__}: {exc})"
        finally:
            await channel.aclose()
    return out


# --------------------------------------------------------------------------- store tools


def _with_service(args: argparse.Namespace, fn: Callable[[Service], Awaitable[int]],
                  *, open_channels: bool = False) -> int:
    config = _load(args.config)
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


def _cmd_send(args: argparse.Namespace) -> int:
    try:
        events = _read_events(args.event)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 1
    if args.url:
        import httpx

        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        body = [e.model_dump(mode="json", exclude_none=True) for e in events]
        r = httpx.post(args.url.rstrip("/") + "/v1/events", json=body if len(body) > 1 else body[0],
                       headers=headers, timeout=30)
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
    async def go(service: Service) -> int:
        rows = await service.store.list_deliveries(status=args.status, channel=args.channel,
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

    return _with_service(args, go)


def _cmd_replay(args: argparse.Namespace) -> int:
    if not args.id and not args.dead:
        print("give a delivery ID or --dead", file=sys.stderr)
        return 2

    async def go(service: Service) -> int:
        ids = await service.store.replay(service.clock(), args.id, all_dead=args.dead)
        if args.json:
            _print_json({"replayed": ids})
        elif ids:
            print(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued again: {', '.join(ids[:20])}"
                  + (" …" if len(ids) > 20 else ""))
        else:
            print("nothing to replay" + (f": {args.id} is not a dead or sent delivery" if args.id else ""))
        return 0 if ids or args.dead else 1

    return _with_service(args, go)


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
        event = Event(kind=Kind.support_request, site="test.notifier", conversation_id="test",
                      message=text, page=Page(url="https://example.com/contact", title="Contact"),
                      user=User(name="Test", email="test@example.com", consent=True),
                      transcript=[Turn(role="user", text=text)]).completed(now)
        message = Outbound(delivery_id=f"test-{event.id}", event=event, channel=args.channel, route="test",
                           priority=Priority.normal, test=True)
        result = await channel.send(message)
        if args.json:
            _print_json({"channel": args.channel, "status": result.status, "reason": result.reason,
                         "ref": result.ref, "retry_after": result.retry_after})
        else:
            verdict = {"sent": "sent ✔", "retry": "failed, would be retried", "permanent": "failed permanently"}
            print(f"{args.channel}: {verdict[result.status]}"
                  + (f" — {result.reason}" if result.reason else "") + (f" (ref {result.ref})" if result.ref else ""))
            if service.inbox is not None and result.ok and service.config.channels[args.channel].type == "email":
                print(f"captured in {service.inbox_dir}: see `notifier inbox`")
        return 0 if result.ok else 1

    return _with_service(args, go, open_channels=True)


# --------------------------------------------------------------------------- parser


def _common(p: argparse.ArgumentParser, *, db: bool = True, json_flag: bool = True) -> None:
    p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    if db:
        p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="notifier", description="Route chatbot support events to the team.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the HTTP API, the worker and the digest scheduler")
    _common(p, json_flag=False)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--no-worker", action="store_true", help="API only (run workers with `notifier worker`)")
    p.add_argument("--insecure", action="store_true",
                   help="listen on a non-loopback --host even without any API token")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("worker", help="run the worker and the digest scheduler (no API)")
    _common(p, json_flag=False)
    p.add_argument("--burst", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--timeout", type=float, default=300.0, help="with --burst: give up after this many seconds")
    p.add_argument("--no-digests", action="store_true", help="do not run the digest scheduler")
    p.add_argument("--lease", type=float, default=300.0,
                   help="seconds a claimed delivery stays reserved; if this worker dies, others take it after")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("check", help="validate channels.yaml; every problem with its line")
    p.add_argument("file", nargs="?", default=None)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("schema", help="print the JSON Schema of channels.yaml")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("explain", help="show which routes match an event and which channels get it")
    p.add_argument("event", help="EVENT.json, or - for standard input")
    p.add_argument("--render", action="store_true", help="also print what each channel would receive")
    _common(p, db=False)
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("send", help="accept events from a file (or -) into the store")
    p.add_argument("event", help="EVENT.json (one event or an array), or - for standard input")
    p.add_argument("--url", default=None, help="post to a running notifier instead (e.g. http://127.0.0.1:8080)")
    p.add_argument("--token", default=None, help="with --url: the API token")
    _common(p)
    p.set_defaults(func=_cmd_send)

    p = sub.add_parser("test", help="send a clearly marked test support request through one channel")
    p.add_argument("channel")
    _common(p)
    p.set_defaults(func=_cmd_test)

    p = sub.add_parser("deliveries", help="list deliveries (e.g. --status dead)")
    p.add_argument("--status", choices=["pending", "claimed", "sent", "dead", "suppressed"])
    p.add_argument("--channel")
    p.add_argument("--event")
    p.add_argument("--limit", type=int, default=50)
    _common(p)
    p.set_defaults(func=_cmd_deliveries)

    p = sub.add_parser("replay", help="send a dead letter (or every one, --dead) again")
    p.add_argument("id", nargs="?")
    p.add_argument("--dead", action="store_true", help="replay every dead letter")
    _common(p)
    p.set_defaults(func=_cmd_replay)

    for name, module, help_text in (
        ("digest", "notifier.digest", "preview or send a digest"),
        ("inbox", "notifier.inbox", "list and read the mails captured by the built-in inbox"),
        ("db", "notifier.store.cli", "database schema: upgrade, version"),
        ("token", "notifier.auth_cli", "make API tokens for channels.yaml"),
    ):
        p = sub.add_parser(name, help=help_text)
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

