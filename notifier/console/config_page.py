"""The Configuration page: ``channels.yaml`` with its secrets masked, ``check``'s findings with
their line numbers, the reload button (scope ``admin``) and each channel's health.

Secrets are masked line by line before the file is shown: the value of any key that names
a credential (``token``, ``secret``, ``password``, ``api_key``…) unless it is only an
``${ENV}`` reference, and every URL's path, query and user part (a webhook's path is often
its only password; see :mod:`notifier.core.masking`).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from notifier import metrics
from notifier.config.errors import ConfigError
from notifier.console.queries import ConsoleReads
from notifier.console.web import Console
from notifier.core.masking import mask_urls_in

__all__ = ["config_router", "mask_config_text"]

_NAMES = r"[\w.-]*(?:token|secret|password|passwd|api[_-]?key|authorization|private[_-]?key|signing[_-]?key)[\w.-]*"
_SECRET_KEY = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?(?:\{\s*)?)?(?P<key>" + _NAMES + r")(?P<sep>\s*:\s*)(?P<value>.+)$", re.IGNORECASE)
# A reference alone (``${ENV}``); one with a default (``${ENV:-…}``) may hold the secret itself.
_ENV_ONLY = re.compile(r"""^["']?\$\{[A-Za-z_][A-Za-z0-9_]*\}["']?\s*(#.*)?$""")
_INLINE = re.compile(r"(?P<key>\b" + _NAMES + r")(?P<sep>\s*:\s*)"
                     r"""(?P<value>\$\{[^}]*\}|"[^"]*"|'[^']*'|[^,}\s]+)""",
                     re.IGNORECASE)


def _masked_value(value: str) -> str:
    return value if _ENV_ONLY.match(value.strip()) else '"***"'


def mask_config_text(text: str) -> str:
    """``channels.yaml`` as it may be shown: credentials and URL secrets replaced by ``***``.

    >>> mask_config_text('slack: {type: slack, token: "xoxb-123", channel: "#s"}')
    'slack: {type: slack, token: "***", channel: "#s"}'
    >>> mask_config_text('  api_key: ${FRESHDESK_KEY}')
    '  api_key: ${FRESHDESK_KEY}'
    """
    out = []
    for line in text.splitlines():
        line = _INLINE.sub(lambda m: m["key"] + m["sep"] + _masked_value(m["value"]), line)
        found = _SECRET_KEY.match(line)
        if found and not found["value"].lstrip().startswith(("{", "[")):
            line = (found["lead"] or "") + found["key"] + found["sep"] + _masked_value(found["value"])
        out.append(mask_urls_in(line))
    return "\n".join(out)


def _concurrency() -> dict[str, float]:
    # The adaptive concurrency limit per channel, when the HTTP channels publish one as a gauge.
    out: dict[str, float] = {}
    for family in metrics.REGISTRY.collect():
        if "concurrency" not in family.name:
            continue
        for sample in family.samples:
            if "channel" in sample.labels:
                out[sample.labels["channel"]] = sample.value
    return out


def config_router(console: Console) -> APIRouter:
    """The routes of ``/console/config``."""
    router = APIRouter()

    def check(path: Any) -> tuple[list[str], list[str]]:
        from notifier.config.loader import load_config, load_config_warnings
        from notifier.service import checked_renderer

        try:
            checked_renderer(load_config(path, require_channels=True))  # what a reload would say
        except ConfigError as exc:
            return [str(i) for i in exc.issues], []
        except OSError as exc:
            return [f"{path}: {exc.strerror or exc}"], []
        try:
            return [], [str(w) for w in load_config_warnings(path)]
        except (ConfigError, OSError):
            return [], []

    @router.get("/console/config", include_in_schema=False)
    async def config_page(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        service = console.service
        path = service.config_path
        try:
            text = mask_config_text(path.read_text(encoding="utf-8"))
        except OSError as exc:
            text = f"({path}: {exc.strerror or exc})"
        problems, warnings = check(path)
        health = await ConsoleReads(service.store.connector()).channel_health()
        failing = {s.labels["channel"]: s.value for f in metrics.channel_consecutive_failures.collect()
                   for s in f.samples}
        limits = _concurrency()
        channels = [{"name": name, "type": getattr(cfg, "type", "?"), "health": health.get(name),
                     "failures": int(failing.get(name, 0)), "concurrency": limits.get(name)}
                    for name, cfg in sorted(service.config.channels.items())]
        return console.page(visit, "config.html", file=str(path), text=text, problems=problems, warnings=warnings,
                            channels=channels, reloaded=request.query_params.get("reloaded"),
                            refused=request.query_params.get("refused"))

    @router.post("/console/config/reload", include_in_schema=False)
    async def reload(request: Request) -> Response:
        visit = await console.visit(request)
        if not console.csrf_ok(visit, await console.form(request)):
            return console.refuse(visit, 403, "Your session expired or the form is stale: try again.")
        if visit.who is None:
            return console.to_login(visit)
        if not visit.may_act:
            return console.refuse(visit, 403, "Your token may only read: acting needs the admin scope.")
        problems = await console.service.reload()
        target = f"/console/config?refused={len(problems)}" if problems else "/console/config?reloaded=1"
        return console.finish(visit, RedirectResponse(target, 303))

    return router
