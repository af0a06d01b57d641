"""``notifier digest``: preview a digest, or send one period (again) on purpose."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from notifier.channels.base import Report
from notifier.config.models import Digest
from notifier.core.digest import Period, period_for_date
from notifier.digest.scheduler import DigestScheduler, digest_zone

__all__ = ["add_arguments", "run"]

FORMATS = ("text", "email-html", "slack", "teams", "json")


def _day(text: str) -> date:
    """``--date``: a calendar day, or a usage error that says what is wrong with it."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        why = str(exc).replace("Invalid isoformat string", "not a date").replace(": " + repr(text), "")
        detail = "" if why == "not a date" else f" ({why})"
        raise argparse.ArgumentTypeError(f"{text!r} is not a day{detail}: write YYYY-MM-DD, e.g. 2026-11-26") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``notifier digest [--preview] [--send] [--name N] [--date D] [--format F]``."""
    parser.add_argument("--preview", action="store_true", help="print the digest without sending it (default)")
    parser.add_argument("--send", action="store_true",
                        help="send it now (with --date: send that period again, even if it was sent)")
    parser.add_argument("--dev", action="store_true",
                        help="with --send: let email channels without SMTP deliver to the local capture inbox")
    parser.add_argument("--name", help="the digest (default: every digest)")
    parser.add_argument("--date", type=_day,
                        help="the local day to report, YYYY-MM-DD (default: the latest due period)")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="what to print: the email text, its HTML, Slack blocks, the Teams card, the stats")
    parser.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    parser.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def _form(report: Report, fmt: str) -> str:
    if fmt == "email-html":
        return report.html or ""
    if fmt in ("slack", "teams", "json"):
        data: Any = {"slack": report.blocks, "teams": report.card, "json": report.data}[fmt]
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    # The text form opens with the title already, as the email's text part does.
    return report.text if report.text.startswith(report.title) else f"{report.title}\n\n{report.text}"


def run(args: argparse.Namespace) -> int:
    """Run ``notifier digest``; the exit status."""
    from notifier.cli_common import missing_database
    from notifier.config.errors import ConfigError
    from notifier.service import Service, default_db_url

    missing = missing_database(args.db or default_db_url())
    if missing:  # a preview of an empty database would say "nothing to report"
        print(missing, file=sys.stderr)
        return 2
    try:
        service = Service(args.config, args.db)
    except FileNotFoundError as exc:
        print(f"{exc.filename}: no such file (use --config or NOTIFIER_CONFIG)", file=sys.stderr)
        return 1
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    digests = [d for d in service.config.digests if args.name in (None, d.name)]
    if not digests:
        print(f"no digest named {args.name!r}" if args.name else "no digest is configured", file=sys.stderr)
        return 1
    if args.send and not args.dev:
        from notifier.startup import NO_SMTP, channels_without_smtp

        # As `worker` refuses: a digest "sent" to the capture inbox reached nobody, and its
        # period, claimed, would not go out from the running service either.
        nowhere = [name for name in channels_without_smtp(service.config) if any(name in d.to for d in digests)]
        for name in nowhere:
            print(f"error: channel {name!r}: {NO_SMTP}", file=sys.stderr)
        if nowhere:
            return 1

    async def go() -> int:
        if args.send:
            await service.open()
        else:
            await service.store.open()
        try:
            scheduler = DigestScheduler(service.config, service.store, service.channels,
                                        service.renderer, "cli", retry_delays=(2.0,))
            now = datetime.now(UTC)
            code = 0
            for digest in digests:
                zone = ZoneInfo(digest_zone(service.config, digest))
                period = (period_for_date(digest.schedule, zone, args.date) if args.date
                          else scheduler.due(digest, now))
                if args.send:
                    code |= await _send(scheduler, digest, period, now, force=args.date is not None)
                    continue
                stats = await scheduler.stats(digest, period)
                report = scheduler.report(digest, period, stats)
                print(_form(report, "json" if args.json else args.format))
            return code
        finally:
            if args.send:
                await service.close()
            else:
                await service.store.close()

    return asyncio.run(go())


async def _send(scheduler: DigestScheduler, digest: Digest, period: Period, now: datetime, *,
                force: bool) -> int:
    if not await scheduler.store.claim_digest(digest.name, period.start, period.end, "cli", now, force=force):
        print(f"{digest.name}: the period from {period.start.isoformat()} was already sent "
              "(add --date to send it again)", file=sys.stderr)
        return 1
    result = await scheduler.send(digest, period, now)
    print(f"{digest.name} {period.start.isoformat()} → {period.end.isoformat()}: {result.status}"
          f"{'  ' + result.detail if result.detail else ''}")
    return 0 if result.status in ("sent", "skipped") else 1
