"""The configuration commands: ``notifier check``, ``schema`` and ``explain``.

They read channels.yaml and never the store: ``check`` validates the file (every problem
with its line), ``schema`` prints the JSON Schema of the file or of an event, ``explain``
shows which routes an event matches and which channels would get it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime

from notifier.cli_common import AddCommand, add_common_flags, counted, loaded_config, print_json, read_events
from notifier.config.errors import ConfigError
from notifier.config.models import Config
from notifier.core.durations import format_duration
from notifier.service import default_config_path, needs_inbox

__all__ = ["add_commands"]


def _cmd_check(args: argparse.Namespace) -> int:
    from notifier.service import checked_renderer

    if args.file and args.config_flag and args.file != args.config_flag:
        print(f"error: two files to check: {args.file} and --config {args.config_flag}", file=sys.stderr)
        return 2
    args.file = args.file or args.config_flag
    config = loaded_config(args.file, require_channels=True)
    if config is None:
        return 1
    path = args.file or default_config_path()
    try:
        renderer = checked_renderer(config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{counted(len(exc.issues), 'problem')} in the templates of {path}", file=sys.stderr)
        return 1
    for unused in renderer.unused_overrides():
        print(f"warning: {unused}", file=sys.stderr)
    from notifier.auth import ENV_TOKEN, weak_env_token

    weak = weak_env_token(os.environ.get(ENV_TOKEN))
    if weak:
        print(f"error: {weak}", file=sys.stderr)
        return 1
    from notifier.config.loader import located
    from notifier.startup import NO_SMTP, channels_without_smtp

    if not args.dev:
        problems = located(path, {("channels", name, "smtp"): NO_SMTP for name in channels_without_smtp(config)})
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{counted(len(problems), 'problem')} in {path}", file=sys.stderr)
            return 1
    print(f"{path}: OK — {counted(len(config.channels), 'channel')}, {counted(len(config.routes), 'route')}, "
          f"{counted(len(config.digests), 'digest')}; fallback: {', '.join(config.fallback_channels) or 'none'}")
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


def _cmd_schema(args: argparse.Namespace) -> int:
    from notifier.config.schema import event_json_schema, json_schema

    print(json.dumps(event_json_schema() if args.event else json_schema(), indent=2, ensure_ascii=False))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from notifier.worker import utcnow

    config = loaded_config(args.config, unset_ok=not args.render)
    if config is None:
        return 1
    try:
        events = read_events(args.event)
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
        print_json(out if len(out) > 1 else out[0])
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


def add_commands(command: AddCommand) -> None:
    """Register ``check``, ``schema`` and ``explain`` on the ``notifier`` parser."""
    p = command("check", "validate channels.yaml; every problem with its line")
    p.add_argument("file", nargs="?", default=None,
                   help="the file to check (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    # Every other command names the file with --config: the same words work here.
    p.add_argument("--config", dest="config_flag", default=None, metavar="FILE", help="the same as FILE")
    p.add_argument("--dev", action="store_true",
                   help="accept email channels without SMTP (they deliver to the local capture inbox)")
    p.set_defaults(func=_cmd_check)

    p = command("schema", "print the JSON Schema of channels.yaml (or, --event, of an event)")
    p.add_argument("--event", action="store_true", help="the JSON Schema of an event posted to /v1/events")
    p.set_defaults(func=_cmd_schema)

    p = command("explain", "show which routes match an event and which channels get it")
    p.add_argument("event", help="EVENT.json, or - for standard input")
    p.add_argument("--render", action="store_true", help="also print what each channel would receive")
    add_common_flags(p, db=False)
    p.set_defaults(func=_cmd_explain)
