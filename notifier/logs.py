"""Logging: readable lines on a terminal, JSON lines elsewhere (``NOTIFIER_LOG_FORMAT``).

The libraries' standard-library records (psycopg's pool, uvicorn, apprise…) go through the
same renderer (structlog's ``ProcessorFormatter``): one JSON object per line, a traceback
or a multi-line message included, so a log shipper reads every line and its level.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

from notifier.core.masking import mask_urls_in

__all__ = ["configure_logging", "enabled", "logs_to_stderr"]

#: The level set by :func:`configure_logging` (until then, structlog filters nothing).
_level = logging.NOTSET

# Libraries that log whole request URLs (webhook URLs carry tokens: Teams `sig=`, Slack
# webhook paths, Apprise URLs) or every SMTP line are kept to warnings, whatever the level
# asked for; what they still say passes through the URL mask below.
_CHATTY = ("httpx", "httpcore", "hpack", "aiohttp", "slack_sdk", "mail.log", "asyncio", "apprise",
           "urllib3", "requests",
           # pyreqwest hands the Rust crates' records to the logger named after each crate.
           "pyreqwest", "reqwest", "hyper", "hyper_util", "h2", "rustls")


class MaskURLs(logging.Filter):
    """Masks the path and query of every URL in a standard-library log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_urls_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mask_event(logger: object, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    # Our own log lines get the same treatment: a reason or a repr may carry a URL.
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = mask_urls_in(value)
    return event


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (it may be replaced after set-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def enabled(level: int) -> bool:
    """Whether a structlog line of ``level`` would be written (a hot path's guard: a line
    filtered out still costs its logger's binding and its arguments, ~5 µs)."""
    return level >= _level


def logs_to_stderr() -> None:
    """Until :func:`configure_logging` (which commands that run for long call), log lines go
    to stderr, as they look by default: a command's stdout is its answer (``--json``)."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(_Stderr()))  # type: ignore[arg-type]


def configure_logging(level: str = "info") -> None:
    """Set up structlog for the process; a ``NOTIFIER_LOG_FORMAT`` other than console or
    json (either case) stops it with one line naming the variable, exit status 2."""
    global _level
    given = os.environ.get("NOTIFIER_LOG_FORMAT")
    fmt = given.lower() if given else ("console" if sys.stderr.isatty() else "json")
    if fmt not in ("console", "json"):
        # A typo would otherwise switch every line to JSON without a word.
        print(f"error: NOTIFIER_LOG_FORMAT={given!r}: console or json", file=sys.stderr)
        raise SystemExit(2)
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()) if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _level = numeric  # what make_filtering_bound_logger below lets through
    ours = logging.StreamHandler(_Stderr())
    ours.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_event,
            renderer,
        ],
    ))
    # Only when nothing else did (as basicConfig does): a test runner's capture stays in place.
    logging.basicConfig(level=numeric, handlers=[ours])
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskURLs) for f in handler.filters):
            handler.addFilter(MaskURLs())
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        # Not cached: a logger cached on first use keeps the first set-up for good, so a later
        # configure (another command run in the same process, structlog's capture_logs in
        # tests) would not reach it. Uncached, a call costs ~16 µs logged, ~5 µs filtered out.
        cache_logger_on_first_use=False,
    )
