"""The files shipped in deploy/ are valid: systemd units that systemd accepts, commands that exist."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted(p for p in (ROOT / "deploy" / "systemd").iterdir() if p.suffix in (".service", ".timer"))
INSTALLED = "/opt/notifier/venv/bin/notifier"


def _commands(unit: Path) -> list[list[str]]:
    out = []
    for line in unit.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStartPre") and INSTALLED in value:
            # The backup unit goes through sh for the date: its command is the quoted part.
            words = shlex.split(value.replace("$$(date +%%a)", "Mon"))
            words = shlex.split(words[-1]) if words[0] == "/bin/sh" else words
            words = words[1:] if words[0] == "exec" else words
            out.append(words[1:])
    return out


def test_the_units_run_notifier_commands_that_exist() -> None:
    assert [u.name for u in UNITS] == ["notifier-backup.service", "notifier-backup.timer",
                                       "notifier-worker.service", "notifier.service"]
    parser = build_parser()
    seen = []
    for unit in UNITS:
        for args in _commands(unit):
            parser.parse_args(args)  # a flag that does not exist exits with a usage error
            seen.append(args[0])
    assert sorted(seen) == ["check", "db", "db", "serve", "worker"]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not found (install systemd to verify the units)")
    notifier = shutil.which("notifier") or str(Path(sys.executable).with_name("notifier"))
    copies = []
    for unit in UNITS:
        # The units name the installed path; verify needs an executable that exists here.
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED, notifier), encoding="utf-8")
        copies.append(copy)
    result = subprocess.run([analyze, "verify", *map(str, copies)], capture_output=True, text=True, timeout=120)
    # verify exits 0 on unknown keys, with a warning: any line about our files is a failure.
    about_ours = [line for line in (result.stdout + result.stderr).splitlines()
                  if any(c.name in line for c in copies)]
    assert result.returncode == 0 and about_ours == [], result.stdout + result.stderr
