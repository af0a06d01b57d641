"""``notifier mcp``: serve ``send_support_email`` over MCP on stdin/stdout.

An MCP host starts it, e.g. in its configuration::

    {"command": "notifier", "args": ["mcp", "--site", "shop.example.com"],
     "env": {"NOTIFIER_CONFIG": "/etc/notifier/channels.yaml", "NOTIFIER_DB": "postgresql://…"}}

It accepts events into the store (routing, dedup and cases included) and exits when the
host closes its stdin; delivery is the work of ``notifier serve`` or ``notifier worker``
on the same database. Logs go to stderr: stdout carries the protocol. Over HTTP, the same
tool is at ``/mcp`` under ``notifier serve``.
"""

from __future__ import annotations

import argparse
import asyncio

from notifier.cli_common import loaded_config

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's flags."""
    p.add_argument("--config", default=None, help="channels.yaml (default: $NOTIFIER_CONFIG or ./channels.yaml)")
    p.add_argument("--db", default=None, help="store URL (default: $NOTIFIER_DB or sqlite:///notifier.db)")
    p.add_argument("--site", default="", help="the site the tool's events come from (e.g. shop.example.com)")
    p.add_argument("--log-level", default="warning", type=str.lower,
                   choices=["debug", "info", "warning", "error"], help="logs on stderr (default: warning)")


def run(args: argparse.Namespace) -> int:
    """Serve until the host closes stdin."""
    from notifier.logs import configure_logging
    from notifier.mcp_server import run_stdio
    from notifier.service import Service

    configure_logging(args.log_level)
    config = loaded_config(args.config, unset_ok=True)
    if config is None:
        return 1

    async def go() -> int:
        service = Service(args.config, args.db, config=config)
        await service.store.open()
        try:
            await run_stdio(service, site=args.site)
        finally:
            await service.store.close()
        return 0

    return asyncio.run(go())
