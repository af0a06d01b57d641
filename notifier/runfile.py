"""Which notifier processes run on this machine, and with which ``channels.yaml``.

``notifier serve`` and ``notifier worker`` each keep a small JSON file, ``<pid>.json``, in
the run directory (``$NOTIFIER_RUN_DIR``; by default ``<database>.run/`` beside a SQLite
file). It records the configuration file and a fingerprint of the text in use, updated
after every ``SIGHUP`` reload (with the problems, when the new file was refused).

``notifier replay`` reads these files: a process whose fingerprint differs from the file on
disk is asked to reload (``SIGHUP``) and the replay waits until it has, so that a dead
letter fixed by editing ``channels.yaml`` is sent with the fix, not with the old value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Process", "RunFile", "fingerprint", "reload_running", "run_dir", "running"]


def run_dir(db_url: str) -> Path:
    """Where the processes using ``db_url`` keep their run files."""
    explicit = os.environ.get("NOTIFIER_RUN_DIR")
    if explicit:
        return Path(explicit)
    if db_url.startswith("sqlite:"):
        path = db_url.split("sqlite://", 1)[1]
        path = path[1:] if path.startswith("/") else path
        if path and path != ":memory:":
            db = Path(path).resolve()
            return db.with_name(db.name + ".run")
    # Several machines share a PostgreSQL database: only this machine's processes are found.
    digest = hashlib.sha256(db_url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"notifier-run-{digest}"


def fingerprint(config_path: Path) -> str:
    """The SHA-256 of the configuration file's text (empty when it cannot be read)."""
    try:
        return hashlib.sha256(config_path.read_bytes()).hexdigest()
    except OSError:
        return ""


class RunFile:
    """The run file of this process: written at start, updated on reload, removed at exit."""

    def __init__(self, db_url: str, config_path: Path, role: str) -> None:
        self.path = run_dir(db_url) / f"{os.getpid()}.json"
        self.data: dict[str, Any] = {"pid": os.getpid(), "role": role, "config": str(config_path.resolve()),
                                     "fingerprint": fingerprint(config_path), "problems": [],
                                     "started_at": datetime.now(UTC).isoformat()}

    def write(self) -> None:
        """Create or update the file (best effort: a read-only disk must not stop the service)."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(self.data), encoding="utf-8")
            os.replace(partial, self.path)

    def reloaded(self, problems: list[str]) -> None:
        """Record the outcome of a reload: the new fingerprint, or the problems that refused it."""
        if problems:
            self.data["problems"] = problems
            self.data["refused"] = fingerprint(Path(self.data["config"]))
        else:
            self.data.update(fingerprint=fingerprint(Path(self.data["config"])), problems=[], refused=None)
        self.data["reloaded_at"] = datetime.now(UTC).isoformat()
        self.write()

    def remove(self) -> None:
        """Forget this process (at a clean exit)."""
        with contextlib.suppress(OSError):
            self.path.unlink()


@dataclass(frozen=True)
class Process:
    """A running notifier process, as its run file describes it."""

    pid: int
    role: str
    config: str
    fingerprint: str
    problems: tuple[str, ...] = ()
    refused: str | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def running(db_url: str, config_path: Path) -> list[Process]:
    """The live processes on this machine that use ``db_url`` and ``config_path``."""
    found = []
    directory = run_dir(db_url)
    for file in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            process = Process(int(data["pid"]), str(data["role"]), str(data["config"]), str(data["fingerprint"]),
                              tuple(data.get("problems") or ()), data.get("refused"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(process.pid):
            with contextlib.suppress(OSError):
                file.unlink()  # left by a process that was killed
            continue
        if process.config == str(config_path.resolve()):
            found.append(process)
    return found


def reload_running(db_url: str, config_path: Path, *, timeout: float = 30.0) -> tuple[list[str], list[str]]:
    """Ask every live process still on an older ``config_path`` to reload; wait until it has.

    Returns (what happened, in sentences; problems that stop a replay). A process that
    refuses the file, cannot be signalled or does not answer in ``timeout`` is a problem.
    """
    wanted = fingerprint(config_path)
    said: list[str] = []
    problems: list[str] = []
    stale = [p for p in running(db_url, config_path) if p.fingerprint != wanted]
    current = [p for p in running(db_url, config_path) if p.fingerprint == wanted]
    for p in current:
        said.append(f"the running notifier {p.role} (pid {p.pid}) already uses the current {config_path.name}")
    waiting = []
    for p in stale:
        try:
            os.kill(p.pid, signal.SIGHUP)
        except OSError as exc:
            problems.append(f"cannot ask notifier {p.role} (pid {p.pid}) to reload: {exc.strerror} "
                            "(run this command as the service's user)")
            continue
        waiting.append(p)
    end = time.monotonic() + timeout
    while waiting:
        still = []
        now_running = {q.pid: q for q in running(db_url, config_path)}
        for p in waiting:
            q = now_running.get(p.pid)
            if q is None:
                problems.append(f"notifier {p.role} (pid {p.pid}) stopped while reloading")
            elif q.fingerprint == wanted:
                said.append(f"asked the running notifier {p.role} (pid {p.pid}) to reload {config_path.name}: done")
            elif q.refused == wanted:
                problems.append(f"the running notifier {p.role} (pid {p.pid}) refused the new {config_path.name}: "
                                + "; ".join(q.problems))
            else:
                still.append(p)
        waiting = still
        if waiting and time.monotonic() > end:
            problems += [f"notifier {p.role} (pid {p.pid}) did not reload within {timeout:.0f}s" for p in waiting]
            break
        if waiting:
            time.sleep(0.05)
    return said, problems
