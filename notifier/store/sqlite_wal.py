"""Keeping SQLite's write-ahead log small: checkpoints in a thread beside the writers.

A commit appends to the WAL (``notifier.db-wal``); a checkpoint copies the log back into
the database file, and the log starts again from its beginning only once a checkpoint
has copied *everything* and no reader still needs its older frames. Under a sustained
burst a ``PASSIVE`` checkpoint never catches up (new frames arrive while it copies), so
left to itself the log grows for as long as the burst lasts, gigabytes, and keeps its
size afterwards. The strategy here:

- every ``every`` seconds, a ``PASSIVE`` checkpoint: copies what it can, blocks nobody;
- above ``restart_above`` bytes, a ``RESTART`` checkpoint, run by the store's writer
  thread between two transactions (:meth:`Checkpointer.restart`): run from here it
  would wait for a lock the busy writer keeps taking back. Writes wait while it copies;
  then the next one starts the log again from the beginning and truncates the file to
  ``journal_size_limit``;
- once no commit was seen for ``idle_after`` seconds, a ``TRUNCATE`` checkpoint empties
  the file, so an idle notifier keeps no log at all.

``bench/wal.py`` measures the peak and idle sizes under a burst.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

from notifier.store.sqlite_tx import rollback_left_open

__all__ = ["JOURNAL_SIZE_LIMIT", "RESTART_ABOVE", "VACUUM_STEP", "Checkpointer", "existing_file", "scrub",
           "vacuum_step"]

#: The log is truncated to this size whenever it starts again from the beginning.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024
#: Above this size, the next checkpoint makes writers wait until the log can start again.
RESTART_ABOVE = 32 * 1024 * 1024


def existing_file(path: str) -> str:
    """The URI that opens the database at ``path`` for reading and writing, never making it.

    A connection opened after the file was deleted would otherwise leave a new, empty
    database at the path, which the next start would open (``sqlite3.connect(uri, uri=True)``).
    """
    return Path(path).absolute().as_uri() + "?mode=rw"


class Checkpointer:
    """A thread with a connection of its own that checkpoints ``path``'s WAL."""

    def __init__(self, path: str, *, every: float = 0.5, restart_above: int = RESTART_ABOVE,
                 idle_after: float = 1.0) -> None:
        self.path = path
        self.every = every
        self.restart_above = restart_above
        self.idle_after = idle_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: How many times the thread woke to look at the log (diagnostics, tests).
        self.ticks = 0

    @staticmethod
    def limit_journal(conn: sqlite3.Connection) -> None:
        """Make ``conn`` truncate the log to :data:`JOURNAL_SIZE_LIMIT` when it starts it again."""
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")

    def start(self) -> None:
        """Start checkpointing (a daemon thread: it never holds the process up)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (blocking: call it from a thread, not the loop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wal_size(self) -> int:
        """The size of the log file in bytes (0 when there is none)."""
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def wants_restart(self) -> bool:
        """Whether the log grew past ``restart_above`` (a stat: microseconds, checked after every commit)."""
        return self.wal_size() > self.restart_above

    def restart(self, conn: sqlite3.Connection) -> None:
        """Called by the writer thread, between two transactions, once :meth:`wants_restart`:
        start the log again from its beginning."""
        # Busy (a reader lingered for the writer's short busy timeout): the next commit tries again.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last_version: int | None = None
        last_change = time.monotonic()
        try:
            while not self._stop.wait(self.every):
                self.ticks += 1
                try:
                    if conn is None:
                        conn = sqlite3.connect(existing_file(self.path), uri=True, isolation_level=None,
                                               check_same_thread=False)
                        self.limit_journal(conn)
                    # Commits of every other connection, this process's writer included.
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                    if version != last_version:
                        last_version, last_change = version, time.monotonic()
                    size = self.wal_size()
                    if size == 0:
                        continue
                    if time.monotonic() - last_change >= self.idle_after:
                        mode, wait_ms = "TRUNCATE", 200
                    elif size > self.restart_above:
                        continue  # the writer restarts it (see restart): do not get in its way
                    else:
                        mode, wait_ms = "PASSIVE", 0
                    # How long to wait for readers and writers to step aside; a checkpoint
                    # that cannot complete now is simply tried again on the next tick.
                    conn.execute(f"PRAGMA busy_timeout={wait_ms}")
                    conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                except sqlite3.Error:
                    # A full disk, a read-only file: the writers report it; try again later.
                    if conn is not None:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()


#: Free pages given back per write transaction (4 MB of 4 KB pages; tens of milliseconds).
VACUUM_STEP = 1000


def vacuum_step(conn: sqlite3.Connection, pages: int = VACUUM_STEP) -> int:
    """Give up to ``pages`` free pages back to the file system; how many free pages are left.

    A purge frees hundreds of megabytes: given back in one transaction, the writers (the
    API) would wait for all of it; in steps, they get the lock between two.
    """
    # Run to completion by sqlite3_exec: through execute(), Python steps the statement once
    # and it frees a single page (it returns no row to fetch).
    rollback_left_open(conn)  # a script would commit a write left half done first
    conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def scrub(conn: sqlite3.Connection, timeout: float = 10.0) -> bool:
    """Leave nothing deleted in the files: free pages given back, the log emptied.

    Run by the writer after an erasure. With ``secure_delete`` the deleted rows are
    already zeros in the pages; the log still holds earlier copies of those pages until
    a ``TRUNCATE`` checkpoint has copied it back and cut the file to nothing. Readers in
    the middle of a statement can hold it up: tried again until ``timeout``. Whether the
    log is now empty.
    """
    # Run to completion by sqlite3_exec: through execute(), Python steps the statement once
    # and it frees a single page (it returns no row to fetch).
    rollback_left_open(conn)  # a script would commit a write left half done first
    conn.executescript("PRAGMA incremental_vacuum;")
    deadline = time.monotonic() + timeout
    while True:
        busy = 1
        with contextlib.suppress(sqlite3.OperationalError):
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy == 0 or time.monotonic() >= deadline:
            return busy == 0
        time.sleep(0.02)
