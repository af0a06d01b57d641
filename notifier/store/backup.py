"""``notifier db backup DEST``: a consistent copy of the SQLite store while notifier runs.

SQLite's online backup API copies the database page by page inside one read transaction;
in WAL mode that transaction does not block the service's writers, and the copy is the
database as it was at one instant (never a half-written file, as ``cp`` of a live
database can be). The copy is written beside ``DEST`` and renamed into place only once it
is complete and passes ``PRAGMA integrity_check``.

PostgreSQL has its own tools (``pg_dump``); this command says so rather than guessing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Backup", "BackupError", "backup_sqlite"]


class BackupError(Exception):
    """The backup could not be made; the message says why in plain words."""


@dataclass(frozen=True)
class Backup:
    """What was copied."""

    path: Path
    size: int
    events: int
    deliveries: int


def backup_sqlite(source: str | Path, dest: str | Path, *, overwrite: bool = False) -> Backup:
    """Copy the SQLite database at ``source`` to ``dest`` (a file, or a directory to put it in)."""
    source, dest = Path(source), Path(dest)
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    if dest.is_dir():
        dest = dest / source.name
    if dest.resolve() == source.resolve():
        raise BackupError(f"{dest} is the database itself: choose another destination")
    if dest.exists() and not overwrite:
        raise BackupError(f"{dest} already exists (use --force to replace it)")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # A generous busy timeout: a checkpoint of the running service may hold a lock briefly.
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            # pages=-1: one step, so the copy is one snapshot; WAL lets writers go on meanwhile.
            src.backup(copy, pages=-1)
            check = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            # A self-contained file: no -wal beside it is needed to read it.
            copy.execute("PRAGMA journal_mode=DELETE")
            events = copy.execute("SELECT count(*) FROM events").fetchone()[0]
            deliveries = copy.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot back up {source}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return Backup(dest, dest.stat().st_size, int(events), int(deliveries))
