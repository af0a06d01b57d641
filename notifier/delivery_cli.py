"""The delivery commands: ``notifier send``, ``test``, ``deliveries`` and ``replay``.

``send`` accepts events into the store (or posts them to a running notifier), ``test``
sends a marked test request through one channel, ``deliveries`` lists what was sent,
is waiting or is dead, and ``replay`` queues dead letters again.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from notifier.cli_common import (
    AddCommand,
    add_common_flags,
    local_time,
    print_json,
    read_events,
    with_service,
    with_store,
)
from notifier.core.events import Event, Kind, User
from notifier.core.text import one_line
from notifier.service import Service, default_config_path
from notifier.store import Store
from notifier.store.privacy import SubjectStore, erased_delivery

__all__ = ["add_commands"]


def _print_accepted(answers: list[dict[str, Any]]) -> None:
    """What became of each event, as the API answered it: its deliveries and its case."""
    for a in answers:
        if a["duplicate"]:
            print(f"{a['id']}: already received (duplicate), nothing new to deliver")
            continue
        print(f"{a['id']}: accepted")
        for d in a["deliveries"]:
            extra = f", +{d['folded']} similar" if d.get("folded") else ""
            print(f"  → {d['channel']} via {d['route']}: {d['status']}{extra}")
        if not a["deliveries"]:
            print("  → no channel (stored for digests)")
        if a.get("case"):
            print(f"  case {a['case']['id']} ({a['case']['status']})")


def _post(args: argparse.Namespace, events: list[Event]) -> int:
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
    url = args.url.rstrip("/") + "/v1/events"
    try:
        r = httpx.post(url, content=content, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"{url}: {exc or type(exc).__name__} (is `notifier serve` running there?)", file=sys.stderr)
        return 1
    if r.status_code != 202:
        # The server's answer names the problem (and each field, for a 422): shown as sent.
        print(f"{url}: HTTP {r.status_code} {r.reason_phrase}: {r.text}", file=sys.stderr)
        return 1
    answer = r.json()
    answers = answer if isinstance(answer, list) else [answer]
    if args.json:
        print_json(answers)
    else:
        _print_accepted(answers)
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    try:
        events = read_events(args.event)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 1
    if args.url:
        return _post(args, events)

    async def go(service: Service) -> int:
        results = await service.accept(events)
        if args.json:
            print_json([r.to_json() for r in results])
            return 0
        _print_accepted([r.to_json() for r in results])
        print("a running `notifier serve` or `notifier worker` delivers them", file=sys.stderr)
        return 0

    return with_service(args, go, create=True)  # accepting into a new store is what it is for


def _cmd_deliveries(args: argparse.Namespace) -> int:
    async def go(store: Store) -> int:
        rows = await store.list_deliveries(status=args.status, channel=args.channel,
                                           event_id=args.event, limit=args.limit)
        if args.json:
            print_json([d.to_json() for d in rows])
            return 0
        if not rows:
            # Each filter said back: a mistyped channel or event id shows in the answer.
            asked = [f"with status {args.status}" if args.status else "",
                     f"of channel {args.channel!r}" if args.channel else "",
                     f"of event {args.event!r}" if args.event else ""]
            print(" ".join(["no deliveries", *filter(None, asked)]))
            return 0
        from notifier.inbox import configured_zone

        zone = configured_zone(args.config)  # the team's zone, as in the mails, if channels.yaml is here
        print(f"{'ID':<32}  {'STATUS':<10} {'CHANNEL':<16} {'TRIES':>5}  {'UPDATED':<24}  LAST ERROR / REF")
        for d in rows:
            detail = d.last_error if d.status in ("dead", "pending") and d.last_error else (d.ref or "")
            print(f"{d.id:<32}  {d.status:<10} {d.channel[:16]:<16} {d.attempts:>5}  "
                  f"{local_time(d.updated_at, zone):<24}  {one_line(detail)[:120]}")
        return 0

    return with_store(args, go)


async def _erased(store: Store, delivery_id: str) -> bool:
    """Whether the event of ``delivery_id`` was erased (its replay is refused: nothing to send)."""
    found = await store.get_delivery(delivery_id)
    return found is not None and bool(await SubjectStore(store.connector()).erased_among([found.event_id]))


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
            print_json({"replayed": ids, "reload": said})
            return 0 if ids or args.dead else 1
        for sentence in said:
            print(sentence)
        if ids:
            print(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued again: {', '.join(ids[:20])}"
                  + (" …" if len(ids) > 20 else ""))
        elif args.id and await _erased(store, args.id):
            print(f"not replayed: {erased_delivery(args.id)}")
        elif args.id and (found := await store.get_delivery(args.id)) is not None:
            print(f"nothing to replay: delivery {args.id} is {found.status}: only dead or sent deliveries are replayed")
        elif args.id:  # a mistyped id, or one the retention purge removed
            print(f"nothing to replay: no delivery {args.id!r} (see `notifier deliveries`)")
        else:
            print("nothing to replay")
        return 0 if ids or args.dead else 1

    return with_store(args, go)


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
            print_json({"channel": args.channel, "status": result.status, "reason": result.reason,
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

    return with_service(args, go, open_channels=True, create=True)


def add_commands(command: AddCommand) -> None:
    """Register ``send``, ``test``, ``deliveries`` and ``replay`` on the ``notifier`` parser."""
    p = command("send", "accept events from a file (or -) into the store")
    p.add_argument("event", help="EVENT.json (one event or an array; or JSON Lines, one event per line), "
                   "or - for standard input")
    p.add_argument("--url", default=None, help="post to a running notifier instead (e.g. http://127.0.0.1:8080)")
    p.add_argument("--token", default=None, help="with --url: the API token (default: $NOTIFIER_API_TOKEN)")
    p.add_argument("--hmac-secret", default=os.environ.get("NOTIFIER_HMAC_SECRET"),
                   help="with --url: sign the body for a token with hmac_secret (default: $NOTIFIER_HMAC_SECRET)")
    add_common_flags(p)
    p.set_defaults(func=_cmd_send)

    p = command("test", "send a clearly marked test support request through one channel")
    p.add_argument("channel", help="the channel's name in channels.yaml")
    add_common_flags(p)
    p.set_defaults(func=_cmd_test)

    p = command("deliveries", "list deliveries (e.g. --status dead)")
    p.add_argument("--status", choices=["pending", "claimed", "sent", "dead", "suppressed"],
                   help="only deliveries in this state")
    p.add_argument("--channel", help="only this channel's deliveries")
    p.add_argument("--event", help="only the deliveries of this event id")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    add_common_flags(p)
    p.set_defaults(func=_cmd_deliveries)

    p = command("replay", "send a dead letter (or every one, --dead) again")
    p.add_argument("id", nargs="?",
                   help="the delivery to send again: a dead letter, or a sent one again (see `notifier deliveries`)")
    p.add_argument("--dead", action="store_true", help="replay every dead letter")
    p.add_argument("--reload-timeout", type=float, default=30.0,
                   help="seconds to wait for running processes to reload an edited channels.yaml (default 30)")
    add_common_flags(p)
    p.set_defaults(func=_cmd_replay)
