"""What ``notifier serve`` checks and says before it answers its first request.

Three things an operator must never have to guess:

- whether mail really leaves the machine: an email channel without ``smtp`` delivers to the
  built-in capture inbox, which is only allowed on a loopback address or with ``--dev``
  (:func:`capture_problems`); anywhere else it would be a black hole;
- whether the port is free: it is bound before anything starts (:func:`bind`), so a busy
  port is reported in one line instead of after a "listening" message;
- where each channel delivers, which store and which config file are used, whether the API
  asks for a token: :func:`summary`, printed once the port is bound and the service open.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from notifier.config.models import ChannelConfig, Config

__all__ = ["NO_SMTP", "PortUnavailable", "bind", "capture_allowed", "capture_problems", "channels_without_smtp",
           "destination", "is_loopback", "summary"]


class PortUnavailable(Exception):
    """The address to listen on cannot be bound (in use, not ours, not an address here)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def capture_allowed(host: str | None, dev: bool) -> bool:
    """The capture inbox may stand in for SMTP on a loopback address or with ``--dev``."""
    return dev or (host is not None and is_loopback(host))


#: Why an email channel without SMTP is refused outside --dev and loopback.
NO_SMTP = ("no SMTP server (`smtp` is empty; is SMTP_URL set?): its mail would only reach the local "
           "capture inbox and nobody would receive it. Set `smtp`, or pass --dev to use the capture "
           "inbox on purpose")


def channels_without_smtp(config: Config) -> list[str]:
    """The email channels that have no SMTP server: their mail goes to the capture inbox."""
    return [name for name, cfg in config.channels.items() if cfg.type == "email" and not cfg.smtp]


def capture_problems(config: Config) -> list[str]:
    """One message per email channel that has no SMTP server (it would deliver nowhere)."""
    return [f"channel {name!r}: {NO_SMTP}" for name in channels_without_smtp(config)]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or :class:`PortUnavailable` in plain words."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(f"cannot listen on {host}: no such address here ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} is already in use on {host}: stop the other process "
                                  "or choose another port with --port") from None
        if exc.errno == errno.EACCES:
            raise PortUnavailable(f"port {port} on {host} needs privileges: choose a port above 1023 "
                                  "(a reverse proxy can listen on 80/443)") from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _host_port(url: str, default_port: int = 443) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 80 if parts.scheme == "http" else default_port
    return f"{parts.hostname or '?'}:{port}"


def destination(cfg: ChannelConfig, inbox: str | None) -> str:
    """Where a channel really delivers, in words and without secrets."""
    from notifier.channels._smtp import parse_smtp_url

    if cfg.type == "email":
        if cfg.smtp:
            try:
                server = parse_smtp_url(cfg.smtp)
            except ValueError as exc:
                return f"invalid smtp URL ({exc})"
            return f"SMTP {server.host}:{server.port} ({server.scheme})"
        if inbox:
            return f"capture inbox on {inbox}: nobody receives it (read it with `notifier inbox`)"
        return "nowhere: no SMTP server and no capture inbox"
    if cfg.type == "slack":
        if cfg.webhook_url:
            return f"Slack incoming webhook ({_host_port(cfg.webhook_url)})"
        return f"Slack {cfg.channel} ({_host_port(cfg.base_url)})"
    if cfg.type == "teams":
        return f"Teams workflow ({_host_port(cfg.url)})"
    if cfg.type == "zendesk":
        return f"Zendesk ({_host_port(cfg.base_url or f'https://{cfg.subdomain}.zendesk.com')})"
    if cfg.type == "freshdesk":
        return f"Freshdesk ({_host_port(cfg.base_url or f'https://{cfg.domain}.freshdesk.com')})"
    if cfg.type == "webhook":
        return f"webhook {_host_port(cfg.url)}"
    if cfg.type == "apprise":
        schemes = sorted({urlsplit(u).scheme or "?" for u in cfg.urls})
        return f"Apprise ({', '.join(s + '://' for s in schemes)})"
    return str(cfg.type)


def summary(*, config: Config, config_path: str, store: str, inbox: str | None, host: str, port: int,
            token: bool, worker: bool, beside: int = 0) -> str:
    """The start-up summary: one screen an operator can check at a glance."""
    from notifier.store.cli import redact_url

    width = max((len(n) for n in config.channels), default=0)
    lines = [
        f"notifier listening on http://{'[' + host + ']' if ':' in host else host}:{port}",
        f"  config   {config_path}",
        f"  store    {redact_url(store)}",
        "  API      " + ("token required (auth.tokens or NOTIFIER_API_TOKEN)" if token
                             else "no token: anyone who reaches the port can post"),
        f"  worker   {_worker_line(worker, beside)}",
        f"  channels ({len(config.channels)}):",
    ]
    for name, cfg in config.channels.items():
        lines.append(f"    {name:<{width}} → {destination(cfg, inbox)}")
    if not is_loopback(host) and not token:
        lines.append("warning: listening beyond this machine without NOTIFIER_API_TOKEN")
    return "\n".join(lines)


def _worker_line(worker: bool, beside: int) -> str:
    if not worker:
        return "off (API only: run `notifier worker`)"
    if beside:
        return f"on, with the digest scheduler, and {beside} worker process{'es' if beside > 1 else ''} beside it"
    return "on, with the digest scheduler"
