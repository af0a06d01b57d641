"""The built-in capture inbox: an SMTP server on 127.0.0.1 that keeps every mail as a file.

For a team that has no SMTP account yet, email channels without ``smtp`` deliver here:
``notifier serve`` starts it, every mail lands in ``./notifier-inbox/`` as a ``.eml`` file
(openable in any mail client), and ``notifier inbox`` lists and prints them::

    $ notifier inbox
      #  time                 from                     to                     subject
      1  2025-03-14 15:30:02  no-reply@votresite.com   support@votresite.com  Nouvelle Demande ...
    $ notifier inbox 1          # mail 1 as an agent reads it
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the server itself is loaded when an inbox starts: the CLI's parser imports this module
    from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["DEFAULT_DIR", "Captured", "Inbox", "add_arguments", "captured", "configured_zone", "run"]

DEFAULT_DIR = "notifier-inbox"


class _Keeper:
    """aiosmtpd handler: write each message to ``directory`` atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # What a mail server records of the envelope: bcc recipients appear only here.
        trace = (f"Return-Path: <{envelope.mail_from or ''}>\r\n"
                 f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}.eml"
        await asyncio.to_thread(_write_atomically, self.directory / name, trace + content)
        return "250 Message captured"


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader never sees half a mail: write aside, then rename in one step.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Inbox:
    """An SMTP server on 127.0.0.1 storing every message it receives in ``directory``.

    >>> inbox = Inbox("notifier-inbox")      # port 0: the system picks a free port
    >>> await inbox.start(); inbox.address   # doctest: +SKIP
    '127.0.0.1:40125'
    """

    def __init__(self, directory: str | Path = DEFAULT_DIR, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """``host:port`` to give to email channels (``ChannelContext.inbox``)."""
        if self._server is None:
            raise RuntimeError("the inbox is not started")
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Create the directory and start listening."""
        from aiosmtpd.smtp import SMTP

        self.directory.mkdir(parents=True, exist_ok=True)
        keeper = _Keeper(self.directory)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(keeper, hostname="notifier-inbox", enable_SMTPUTF8=True), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening (mails already written stay)."""
        if self._server is not None:
            self._server.close()
            # A client that never says QUIT must not hold the shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Captured:
    """One captured mail."""

    number: int
    path: Path
    time: datetime
    sender: str
    to: str
    subject: str

    def message(self) -> EmailMessage:
        """The parsed mail."""
        parsed: EmailMessage = message_from_bytes(self.path.read_bytes(), policy=policy.default)
        return parsed


def captured(directory: str | Path) -> list[Captured]:
    """The mails in ``directory``, newest first, numbered from 1."""
    root = Path(directory)
    if not root.is_dir():
        return []
    # File names start with the capture time (UTC), so name order is arrival order.
    paths = sorted(root.glob("*.eml"), key=lambda p: p.name, reverse=True)
    out = []
    for number, path in enumerate(paths, 1):
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
        msg = message_from_bytes(head.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=policy.default)
        when = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        out.append(Captured(number, path, when, str(msg["From"] or ""),
                            str(msg["X-Envelope-To"] or msg["To"] or ""), str(msg["Subject"] or "")))
    return out


def readable(item: Captured) -> str:
    """The mail as an agent reads it: From, To, Cc, Reply-To, Subject, Date, then the text."""
    msg = item.message()
    lines = [f"{key}: {msg[key]}" for key in ("From", "To", "Cc", "Reply-To", "Subject", "Date") if msg[key]]
    body = msg.get_body(preferencelist=("plain", "html"))
    text = str(body.get_content()).replace("\r\n", "\n") if body is not None else ""
    return "\n".join(lines) + "\n\n" + text.rstrip() + "\n"


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``notifier inbox``."""
    parser.add_argument("number", nargs="?", type=int, help="print this mail (1 is the newest)")
    parser.add_argument("--dir", default=None,
                        help=f"inbox directory (default: $NOTIFIER_INBOX or ./{DEFAULT_DIR})")
    parser.add_argument("--html", action="store_true", help="with a number: print the HTML part")
    parser.add_argument("--config", default=None,
                        help="channels.yaml whose defaults.timezone the times are shown in, as in the mails "
                             "(default: $NOTIFIER_CONFIG or ./channels.yaml; else this machine's zone)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def configured_zone(config: str | Path | None) -> tzinfo | None:
    """The configuration's time zone (the one mails and digests show), or ``None`` for this machine's."""
    from zoneinfo import ZoneInfo

    from notifier.config.errors import ConfigError
    from notifier.config.loader import load_config

    path = Path(config or os.environ.get("NOTIFIER_CONFIG", "channels.yaml"))
    try:
        return ZoneInfo(load_config(path, unset_ok=True).defaults.timezone)
    except (OSError, ConfigError):
        return None


def run(args: argparse.Namespace) -> int:
    """``notifier inbox [--dir D] [N] [--json]``."""
    directory = Path(args.dir or os.environ.get("NOTIFIER_INBOX", DEFAULT_DIR))
    items = captured(directory)
    if args.number is None:
        zone = configured_zone(getattr(args, "config", None))
        if zone is not None:
            items = [replace(i, time=i.time.astimezone(zone)) for i in items]
        return _list(items, directory, args.json)
    item = next((i for i in items if i.number == args.number), None)
    if item is None:
        print(f"no mail #{args.number} in {directory} ({len(items)} captured)", file=sys.stderr)
        return 1
    if getattr(args, "html", False):
        part = item.message().get_body(preferencelist=("html",))
        if part is None:
            print(f"mail #{item.number} has no HTML part", file=sys.stderr)
            return 1
        print(part.get_content())
        return 0
    if args.json:
        msg = item.message()
        body = msg.get_body(preferencelist=("plain",))
        print(json.dumps({**_row(item), "headers": {k: str(v) for k, v in msg.items()},
                          "text": str(body.get_content()).replace("\r\n", "\n") if body is not None else ""},
                         ensure_ascii=False, indent=2))
        return 0
    print(readable(item), end="")
    return 0


def _row(item: Captured) -> dict[str, Any]:
    return {"number": item.number, "time": item.time.isoformat(timespec="seconds"), "from": item.sender,
            "to": item.to, "subject": item.subject, "file": str(item.path)}


def _list(items: list[Captured], directory: Path, as_json: bool) -> int:
    if as_json:
        print(json.dumps([_row(i) for i in items], ensure_ascii=False, indent=2))
        return 0
    if not items:
        print(f"no mail captured in {directory}")
        return 0
    # Bare addresses keep the columns narrow; `notifier inbox N` shows the full headers.
    senders = {i.number: parseaddr(i.sender)[1] or i.sender for i in items}
    width_from = min(32, max(len("from"), *(len(s) for s in senders.values())))
    width_to = min(32, max(len("to"), *(len(i.to) for i in items)))
    # Each time names its zone: the mails show the configuration's zone, a server runs in UTC.
    print(f"{'#':>3}  {'time':24}  {'from':{width_from}}  {'to':{width_to}}  subject")
    for i in items:
        when = i.time.strftime("%Y-%m-%d %H:%M:%S %Z")
        print(f"{i.number:>3}  {when:24}  {_cut(senders[i.number], width_from):{width_from}}  "
              f"{_cut(i.to, width_to):{width_to}}  {i.subject}")
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
