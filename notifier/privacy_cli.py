"""``notifier privacy export|erase|audit|purge``: a person's access and erasure requests; the retention purge.

    $ notifier privacy export --email jean.dupont@example.com > jean.json
    $ notifier privacy erase --email jean.dupont@example.com
    4 events, 3 deliveries, 1 case about this subject; 1 helpdesk ticket to erase there too:
      zendesk ticket 4521  https://acme.zendesk.com/agent/tickets/4521
    erase them? [y/N] y
    erased: 4 events anonymised, 0 deleted, 3 deliveries, 1 case, 2 notes (audit hmac-sha256:…)
    $ notifier privacy audit --email jean.dupont@example.com

``erase`` asks before erasing unless ``--yes``; without a terminal to ask, ``--yes`` is
required. The audit lists erasures, never identifiers: ``--email`` finds the records of
one person by computing the same keyed hash.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

import orjson

from notifier.cli_common import loaded_config, missing_database
from notifier.core.subject import Subject, SubjectError

__all__ = ["add_arguments", "run"]


def _subject_flags(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--email", help="the person, by email address (neither case nor Unicode form matters)")
    group.add_argument("--conversation", help="one conversation, by its conversation_id")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export``, ``erase``, ``audit`` and ``purge`` actions of ``notifier privacy``."""
    sub = parser.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    for name, help_text in (
        ("export", "print, as JSON, everything stored about a person or a conversation"),
        ("erase", "erase everything stored about a person or a conversation (kept: an audit record)"),
        ("audit", "list erasures (who, when, what; never whom)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".")
        _subject_flags(p, required=name != "audit")
        if name != "audit":
            p.add_argument("--site", help="with --conversation: its site (needed when several sites have one "
                                          "with that id)")
        p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
        p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
        if name == "erase":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            p.add_argument("--json", action="store_true", help="machine-readable output")
    from notifier.retention_cli import add_purge

    add_purge(sub)


def _subject(args: argparse.Namespace) -> Subject | None:
    if args.email is not None:
        if getattr(args, "site", None) is not None:
            raise SubjectError("a person is found on every site: --site goes with --conversation only")
        return Subject.email(args.email.strip())
    if args.conversation is not None:
        return Subject.conversation(args.conversation, getattr(args, "site", None))
    return None


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"


def run(args: argparse.Namespace) -> int:
    """Run ``notifier privacy <action>``; the process exit code."""
    if args.privacy_command == "purge":
        from notifier.retention_cli import purge

        return purge(args)
    from notifier.logs import configure_logging

    # Logs on stderr, warnings only: stdout is the export or the report.
    configure_logging("warning")
    try:
        subject = _subject(args)
    except SubjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = loaded_config(args.config, unset_ok=True)
    if config is None:
        return 1
    from notifier.service import default_db_url

    missing = missing_database(args.db or default_db_url())
    if missing:  # an export or an erasure in the wrong directory must not answer "nothing found"
        print(missing, file=sys.stderr)
        return 2
    return asyncio.run(_run(args, config, subject))


async def _run(args: argparse.Namespace, config: Any, subject: Subject | None) -> int:
    from notifier.privacy import audit_key, erase_subject, export_subject
    from notifier.service import default_db_url
    from notifier.store import store_for
    from notifier.store.privacy import SubjectStore
    from notifier.worker import utcnow

    store = store_for(args.db or default_db_url())
    await store.open()
    try:
        now = utcnow()
        if args.privacy_command == "audit":
            digest = subject.digest(await audit_key(config, store, now)) if subject else None
            records = await SubjectStore(store.connector()).erasures(digest=digest)
            sys.stdout.write(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        assert subject is not None
        from notifier.privacy import site_to_name

        if (why := await site_to_name(store, subject, flag="--site", empty="--site ''")) is not None:
            print(f"error: {why}", file=sys.stderr)
            return 2
        if args.privacy_command == "export":
            data = await export_subject(config, store, subject, now)
            sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        if not args.yes:
            found = await SubjectStore(store.connector()).find(subject)
            from notifier.privacy import helpdesk_tickets

            tickets = helpdesk_tickets(config, found.deliveries)
            print(f"{_plural(len(found.events), 'event')}, {_plural(len(found.deliveries), 'delivery', 'deliveries')}"
                  f", {_plural(len(found.cases), 'case')} about this subject"
                  + (f"; {_plural(len(tickets), 'helpdesk ticket')} to erase there too:" if tickets else ""))
            for t in tickets:
                print(f"  {t['channel']} ticket {t['ticket']}  {t['url']}")
            if not sys.stdin.isatty():
                print("error: not a terminal to confirm on: add --yes to erase", file=sys.stderr)
                return 1
            if input("erase them? [y/N] ").strip().lower() not in ("y", "yes", "o", "oui"):
                print("nothing erased")
                return 1
        report = await erase_subject(config, store, subject, erased_by=getpass.getuser(), via="cli", now=now)
        if args.json:
            sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        c = report["counts"]
        print(f"erased: {c['events_anonymised']} events anonymised, {c['events_deleted']} deleted, "
              f"{_plural(c['deliveries'], 'delivery', 'deliveries')}, "
              f"{_plural(c['cases'], 'case')}, {_plural(c['notes'], 'note')} (audit {report['subject']['digest']})")
        if c["escalations"]:
            print(f"  {_plural(c['escalations'], 'escalation step')} of the erased cases cancelled: nothing is left "
                  "to send")
        if c.get("cases_closed"):
            print(f"  {_plural(c['cases_closed'], 'case')} still waiting closed (resolved: erased): nobody is left "
                  "to answer")
        for t in report["helpdesk_tickets"]:
            print(f"  erase it in {t['type']} too: {t['channel']} ticket {t['ticket']}  {t['url']}")
        if not report["reclaimed"]:
            print("warning: the database log could not be emptied yet (a reader held it); "
                  "it will be at the next idle checkpoint", file=sys.stderr)
        return 0
    finally:
        await store.close()
