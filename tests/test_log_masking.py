"""Logs at every level carry no channel URL path or query, ours or a library's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import logging, structlog
    from notifier.logs import configure_logging
    configure_logging("debug")
    for name in ("apprise", "urllib3", "httpx", "httpcore", "aiohttp", "slack_sdk"):
        logging.getLogger(name).debug("sending to https://hooks.example.com/services/T0/B0/DEBUGtoken123")
    logging.getLogger("apprise").warning("Failed to send to discord://4242/WARNtoken456")
    logging.getLogger("urllib3").error("POST https://prod.logic.azure.com/workflows/abc?sig=ERRsig789 failed")
    logging.getLogger("some.other.lib").info("retrying https://example.com/in/INFOpath321?key=INFOkey654")
    structlog.get_logger().debug("delivery failed", reason="echo: https://example.com/hook/OURpath987")
    structlog.get_logger().info("plain line without urls", channel="hook")
""")


def test_library_and_own_logs_mask_urls_at_debug_level() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NOTIFIER_LOG_FORMAT": "json"})
    assert run.returncode == 0, run.stderr
    log = run.stdout + run.stderr
    for secret in ("DEBUGtoken123", "WARNtoken456", "ERRsig789", "INFOpath321", "INFOkey654", "OURpath987",
                   "T0/B0", "4242"):
        assert secret not in log, f"{secret} leaked into the log:\n{log}"
    # the lines are still there, with enough to know where they went
    assert "discord://***" in log
    assert "https://prod.logic.azure.com/***" in log
    assert "https://example.com/***" in log
    assert "plain line without urls" in log
