"""Wake-ups between processes sharing one SQLite database: a datagram instead of a poll.

A worker learns of work committed by another process from ``PRAGMA data_version``, which
it polls every ``poll_interval`` (20 ms): 10 ms of latency on average, for every accepted
event, once the workers of ``serve --workers N`` run beside the API. So each process that
waits for work also binds a Unix datagram socket in a directory named after the
database, and a process that commits work sends one byte to every socket there: the
waiting workers wake at once.

The poll stays: it is what wakes a worker when no datagram can come (a process on
another host or container sharing the file, a directory that cannot be made). A lost or
surplus wake-up costs nothing but a look for work. The directory is private to the user
(``<tmp>/notifier-<uid>/<hash of the database's path>``); one that is not ours, or not a
directory, turns the datagrams off and leaves the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["WakeSockets"]


def _private_dir(path: Path) -> bool:
    """Make ``path`` (mode 0700) unless it exists; whether it is a directory of ours alone."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


class WakeSockets:
    """The wake-up sockets of the processes using the database at ``db_path``."""

    def __init__(self, db_path: str) -> None:
        real = os.path.realpath(db_path)
        self.dir = (Path(tempfile.gettempdir()) / f"notifier-{os.getuid()}"
                    / hashlib.sha256(real.encode()).hexdigest()[:16])
        self._usable: bool | None = None
        self._sock: socket.socket | None = None
        self._path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: socket.socket | None = None

    def _ready(self) -> bool:
        if self._usable is None:
            try:
                self._usable = _private_dir(self.dir.parent) and _private_dir(self.dir)
            except OSError:
                self._usable = False
        return self._usable

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` in the running loop whenever another process sends a wake-up.

        The socket is bound on the first call (and on the first call in a new loop).
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop or not self._ready():
            return
        self._unbind()  # a socket of an earlier loop
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        path = self.dir / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        try:
            sock.bind(str(path))
        except OSError:  # a path too long for AF_UNIX, a full disk: the poll still wakes us
            sock.close()
            self._usable = False
            return

        def readable() -> None:
            with contextlib.suppress(OSError):
                while sock.recv(64):
                    pass
            on_wake()

        loop.add_reader(sock.fileno(), readable)
        self._sock, self._path, self._loop = sock, path, loop

    def notify(self) -> None:
        """Send a wake-up to every other process listening; forget the sockets of processes gone."""
        if not self._ready():
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        try:
            entries = list(os.scandir(self.dir))
        except OSError:
            return
        for entry in entries:
            if self._path is not None and entry.name == self._path.name:
                continue  # this process wakes itself in memory
            try:
                self._sender.sendto(b"!", entry.path)
            except BlockingIOError:
                pass  # its queue is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody reads it any more: a process that ended without removing it.
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            except OSError:
                pass

    def _unbind(self) -> None:
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            self._path = None
        self._loop = None

    def close(self) -> None:
        """Stop listening and remove this process's socket."""
        self._unbind()
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        with contextlib.suppress(OSError):
            self.dir.rmdir()  # the last process of this database leaves no empty directory behind
        self._usable = None  # made (and checked) again if this store is opened again
