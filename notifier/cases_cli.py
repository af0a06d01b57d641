"""The cases commands: ``notifier cases``, ``claim``, ``resolve``, ``reopen``.

Each action goes through :func:`notifier.cases.act`, like the API's, recorded as coming
from ``cli``. Exit status: 0 done or already so, 1 refused (someone else holds the case),
2 unknown case.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from notifier.cli_common import AddCommand, add_common_flags, local_time, print_json, with_service
from notifier.core.cases import ACTIONS, STATUSES, Action
from notifier.core.text import one_line

if TYPE_CHECKING:
    from notifier.store.cases import CaseStore

__all__ = ["add_commands"]


def _cmd_cases(args: argparse.Namespace) -> int:
    from notifier.cases import is_late, timings
    from notifier.service import Service
    from notifier.store.cases import CaseStore

    async def go(service: Service) -> int:
        limit = max(1, args.limit)
        store = CaseStore(service.store.connector())
        # One more than shown: a list cut at --limit says so, rather than passing for all of them.
        rows = await store.find(status=args.status, site=args.site, limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        now = service.clock()
        if args.json:
            print_json([{**c.to_json(), "timings": timings(c, service.config, now)} for c in rows])
            return 0
        if not rows:
            print("no cases" + (f" with status {args.status}" if args.status else ""))
            await _reopened_too(store, args)
            return 0
        zone = ZoneInfo(service.config.defaults.timezone)
        print(f"{'ID':<32}  {'STATUS':<9} {'SITE':<18} {'OPENED':<24}  {'EXPECTED':<24}  BY")
        for c in rows:
            late = is_late(c, now)
            # Who has it now: a reopened case is nobody's until claimed again.
            who = {"claimed": c.claimed_by, "resolved": c.resolved_by}.get(c.status) or ""
            if c.closed_by_erasure:  # nobody resolved it: its visitor's data was erased
                who = "(closed: visitor erased)"
            # Sites and names are typed by others: one line, no escape sequence for the terminal.
            print(f"{c.id:<32}  {c.status:<9} {one_line(c.site)[:18]:<18} {local_time(c.round_opened_at, zone):<24}  "
                  f"{local_time(c.expected_response_at, zone):<24}{'!' if late else ' '} {one_line(who)}")
        if more:
            print(f"… the {limit} most recently active shown, there are more: --limit N, --status or --site")
        await _reopened_too(store, args)
        return 0

    return with_service(args, go)


async def _reopened_too(store: CaseStore, args: argparse.Namespace) -> None:
    """Under ``--status open``: the reopened cases wait for someone as well (the visitor wrote again)."""
    if args.status != "open":
        return
    waiting = len(await store.find(status="reopened", site=args.site, limit=1000))
    if waiting:
        print(f"… and {waiting if waiting < 1000 else '1000+'} reopened waiting too "
              "(the visitor wrote again, nobody has it): --status reopened")


def _action(verb: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from notifier.cases import act
        from notifier.service import Service
        from notifier.store.cases import CaseNotFound

        async def go(service: Service) -> int:
            try:
                result = await act(service.store, service.config, args.case, verb, by=args.by, via="cli",
                                   now=service.clock(), note=args.note)
            except CaseNotFound:
                print(f"no case {args.case!r} (see `notifier cases`)")
                return 2
            if args.json:
                print_json({"outcome": result.outcome, "reason": result.reason, "case": result.case.to_json()})
            elif result.outcome == "refused":
                print(f"case {args.case} is {result.reason}")
            elif result.outcome == "unchanged":
                print(f"case {args.case} was already {result.case.status}"
                      + (f" by {result.case.claimed_by}" if result.case.status == "claimed" else ""))
            else:
                print(f"case {args.case} {result.case.status} by {args.by}")
            return 1 if result.outcome == "refused" else 0

        return with_service(args, go)

    return run


def add_commands(command: AddCommand) -> None:
    """Register the cases commands on the ``notifier`` parser."""
    p = command("cases", "list cases (people waiting for an answer), most recently active first")
    p.add_argument("--status", choices=STATUSES, help="only cases in this state")
    p.add_argument("--site", help="only this site's cases")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_common_flags(p)
    p.set_defaults(func=_cmd_cases)
    helps = {"claim": "take a case: the team sees who is on it, escalations stop",
             "resolve": "mark a case answered", "reopen": "open a resolved case again"}
    for verb in ACTIONS:
        p = command(verb, helps[verb])
        p.add_argument("case", help="the case id (see `notifier cases`)")
        p.add_argument("--by", default=getpass.getuser(), help="who acts (default: your login name)")
        # A note on any action, as the API takes one: it is kept with the action and told to
        # every channel that carried the alert ("je rappelle à 15h", "le client a rappelé").
        p.add_argument("--note", help="what was done or why, kept with the action and sent with its follow-ups")
        add_common_flags(p)
        p.set_defaults(func=_action(verb))
