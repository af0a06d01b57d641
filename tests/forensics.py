"""Looking for data where a person could find it after it was deleted: the raw database files.

A row deleted by SQL may linger in the file: in a free page, in the write-ahead log, in
a rollback journal. The purge and erasure proofs search the bytes of every SQLite file of
a database (main file, ``-wal``, ``-journal``, ``-shm``) and, for PostgreSQL, a
``pg_dump`` of the whole database, for strings that must be gone::

    leftovers = sqlite_leftovers(db_path, ["marguerite.duchamp@example.org"])
    assert leftovers == {}, leftovers        # {needle: [files it was found in]}

Each needle is searched as UTF-8 and UTF-16 (both byte orders): SQLite may store text in
either. Callers also search for a string that must *remain* (a recent event), so a
search that finds nothing is known to be able to find something.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SQLITE_SUFFIXES", "pg_dump", "pg_dump_leftovers", "sqlite_files", "sqlite_leftovers"]

#: The files SQLite may keep beside the database.
SQLITE_SUFFIXES = ("", "-wal", "-journal", "-shm")


def _forms(needle: str) -> list[bytes]:
    return [needle.encode("utf-8"), needle.encode("utf-16-le"), needle.encode("utf-16-be")]


def sqlite_files(db_path: str | Path) -> list[Path]:
    """The database file and whichever of its companions exist."""
    return [p for p in (Path(f"{db_path}{s}") for s in SQLITE_SUFFIXES) if p.exists()]


def sqlite_leftovers(db_path: str | Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Which ``needles`` are still in the raw bytes of the database's files, and in which."""
    blobs = {p.name: p.read_bytes() for p in sqlite_files(db_path)}
    found: dict[str, list[str]] = {}
    for needle in needles:
        where = [name for name, data in blobs.items() if any(form in data for form in _forms(needle))]
        if where:
            found[needle] = where
    return found


def pg_dump(url: str, bindir: Path) -> str:
    """A plain-text ``pg_dump`` of the database at ``url`` (data and schema)."""
    proc = subprocess.run([str(bindir / "pg_dump"), "--no-owner", "--dbname", url], capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def pg_dump_leftovers(url: str, bindir: Path, needles: Iterable[str]) -> list[str]:
    """Which ``needles`` a dump of the database still contains."""
    dump = pg_dump(url, bindir)
    return [n for n in needles if n in dump]
