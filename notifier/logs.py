"""Logging: readable lines on a terminal, JSON lines elsewhere (``NOTIFIER_LOG_FORMAT``)."""

from __future__ import annotations

import logging
import os
import sys

import structlog

__all__ = ["configure_logging"]


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (it may be replaced after set-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info") -> None:
    """Set up structlog for the process."""
    fmt = os.environ.get("NOTIFIER_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()) if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    # Libraries that log whole request URLs (webhook URLs carry tokens: Teams `sig=`, Slack
    # webhook paths) or every SMTP line are kept to warnings, whatever the level asked for.
    for name in ("httpx", "httpcore", "hpack", "aiohttp", "slack_sdk", "mail.log", "asyncio"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
