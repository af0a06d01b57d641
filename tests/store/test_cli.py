"""``notifier db upgrade|version`` on each backend."""

from __future__ import annotations

import pytest

from notifier.cli import main
from notifier.store.base import migrations
from notifier.store.cli import redact_url


def latest(url: str) -> int:
    return migrations("sqlite" if url.startswith("sqlite:") else "postgresql")[-1][0]


def test_version_then_upgrade(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "version", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert "schema version 0 (empty database)" in out and "run `notifier db upgrade`" in out

    assert main(["db", "upgrade", "--db", db_url]) == 0
    every = ", ".join(str(v) for v, _ in migrations("sqlite" if db_url.startswith("sqlite:") else "postgresql"))
    assert f"{every}; the database is at version {latest(db_url)}" in capsys.readouterr().out

    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert f"nothing to do: the database is at version {latest(db_url)}" in capsys.readouterr().out
    assert main(["db", "version", "--db", db_url]) == 0
    assert f"schema version {latest(db_url)}; up to date" in capsys.readouterr().out


def test_the_database_comes_from_notifier_db(db_url: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DB", db_url)
    assert main(["db", "upgrade"]) == 0
    assert "the database is at version" in capsys.readouterr().out


def test_an_unreachable_database_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://notifier:s3cret@127.0.0.1:{port}/notifier"
    assert main(["db", "version", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL" in err and "s3cret" not in err


def test_passwords_are_not_printed() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("sqlite:///notifier.db") == "sqlite:///notifier.db"
