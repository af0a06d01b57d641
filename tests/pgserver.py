"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

The server listens on 127.0.0.1 on a free port, keeps its socket in its own folder, and
trades durability for speed (``fsync=off``). PostgreSQL refuses to run as root, so when
the tests run as root the server runs as an unprivileged user (``NOTIFIER_PG_USER``, else
``postgres`` when that account exists, else ``nobody``).

    server = PgServer.find()          # None when no PostgreSQL binaries are installed
    server.start()
    url = server.create_database()    # a fresh, empty database
    ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PgServer", "find_bindir"]


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is not installed."""
    candidates: list[str] = []
    if os.environ.get("NOTIFIER_PG_BINDIR"):
        candidates.append(os.environ["NOTIFIER_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True)
            candidates.append(out.stdout.strip())
    # Debian installs the server outside PATH; the newest version wins.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                         reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The account to run the server as, or ``None`` to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("NOTIFIER_PG_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged account (postgres, nobody) exists")


class PgServer:
    """One PostgreSQL cluster in a temporary folder, started and stopped by the tests."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root: Path | None = None
        self.port = 0
        self.user = "postgres"  # the database superuser created by initdb
        self._account = _run_as()

    @classmethod
    def find(cls) -> PgServer | None:
        """A server using the installed binaries, or ``None`` when there are none."""
        bindir = find_bindir()
        return cls(bindir) if bindir is not None else None

    # ----------------------------------------------------------------- control
    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        proc = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=self.root, check=False,
                              **kwargs)  # type: ignore[call-overload]
        if proc.returncode != 0:
            log = ""
            if self.root is not None and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr or proc.stdout}\n{log}")
        return proc

    @property
    def data(self) -> Path:
        assert self.root is not None, "the server was not started"
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "the server was not started"
        return self.root / "sock"

    def start(self) -> None:
        """Create the cluster (first time only) and start the server; waits until it accepts connections."""
        if self.root is None:
            # A short path: the unix socket's full name must fit in 107 bytes.
            self.root = Path(tempfile.mkdtemp(prefix="notifier-pg-"))
            self.socket_dir.mkdir()
            if self._account is not None:
                for path in (self.root, self.socket_dir):
                    os.chown(path, self._account.pw_uid, self._account.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync", "--no-instructions")
            self.port = _free_port()
        self._pg_ctl_start()

    def _pg_ctl_start(self) -> None:
        options = " ".join([
            f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.socket_dir}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=200", "-c shared_buffers=32MB", "-c max_wal_size=1GB",
        ])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.root is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def restart(self) -> None:
        """Stop the server, disconnecting every client, and start it again on the same port."""
        self.halt()
        self._pg_ctl_start()

    def halt(self) -> None:
        """Stop the server, disconnecting every client; its data stays (``start()`` brings it back)."""
        # A fast shutdown: with synchronous_commit=off an immediate one could lose commits.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    # ----------------------------------------------------------------- databases
    @property
    def url(self) -> str:
        """The URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY file_copy')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still using it."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
