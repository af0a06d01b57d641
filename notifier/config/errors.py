"""Configuration errors, each naming ``file:line:col`` and the YAML path.

Example of what an admin sees::

    channels.yaml:42:9  routes[3].to[1]: unknown channel 'slak' (did you mean 'slack'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RESERVED_ROUTE_NAMES",
    "ConfigError",
    "ConfigIssue",
    "ReferenceProblem",
    "ReferenceProblems",
    "did_you_mean",
    "format_path",
    "reference_problems",
]

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("routes", 3, "to", 1)`` -> ``routes[3].to[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'slack'?)`` when a choice is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration file."""

    file: str
    line: int | None
    col: int | None
    path: Path
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        # A problem of the file as a whole (a syntax error, an unknown top-level key) has no
        # YAML path worth printing.
        if not self.path:
            return f"{where}  {self.message}"
        return f"{where}  {format_path(self.path)}: {self.message}"


    def with_path(self, path: Path) -> ConfigIssue:
        """The same problem, named under another YAML path (the position is kept)."""
        return ConfigIssue(self.file, self.line, self.col, path, self.message)


class ConfigError(Exception):
    """A configuration that cannot be loaded; ``issues`` holds every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class ReferenceProblem:
    """A cross-reference that does not resolve, found after the models validated."""

    path: Path
    message: str


class ReferenceProblems(ValueError):
    """Raised from the model validator so the loader can map each problem to its line."""

    def __init__(self, problems: list[ReferenceProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{format_path(p.path)}: {p.message}" for p in problems))


#: Route names notifier gives its own deliveries: acknowledgements (notifier/acknowledge.py),
#: escalations (notifier/escalation.py), follow-ups of a case (notifier/follow_ups.py) and
#: the fallback (notifier/core/routing.py). Adapters read an event's labels as notifier's own
#: on those routes (``ack_address``, ``escalation``…): a route of the configuration so named
#: would let a visitor's labels choose where the team's alert goes, or what it says.
RESERVED_ROUTE_NAMES = ("acknowledge", "escalation", "follow-up", "fallback")


def reference_problems(data: Mapping[str, Any]) -> list[ReferenceProblem]:
    """Every route, fallback or digest naming an unknown channel, and every duplicate name.

    ``data`` is the configuration as plain data: either built from the validated models or
    the file as parsed, in which case malformed entries are skipped (validation reports
    those) so that reference problems are found together with every other problem.
    """
    problems: list[ReferenceProblem] = []
    channels = data.get("channels")
    known = [str(k) for k in channels] if isinstance(channels, Mapping) else []

    def check_names(path: Path, value: Any) -> None:
        for j, name in enumerate(value if isinstance(value, list) else []):
            if isinstance(name, str) and name not in known:
                problems.append(ReferenceProblem((*path, j), f"unknown channel {name!r}{did_you_mean(name, known)}"))

    def check_acknowledge(path: Path, value: Any) -> None:
        via = value.get("via") if isinstance(value, Mapping) else None
        if not isinstance(via, str):
            return
        if via not in known:
            problems.append(ReferenceProblem((*path, "via"), f"unknown channel {via!r}{did_you_mean(via, known)}"))
        elif isinstance(channels, Mapping):
            entry = channels[via]
            kind = entry.get("type") if isinstance(entry, Mapping) else getattr(entry, "type", None)
            if kind is not None and kind != "email":
                problems.append(ReferenceProblem((*path, "via"), f"channel {via!r} is a {kind} channel: "
                                                 "acknowledgements are emails, name an email channel"))

    def check_section(section: str, what: str) -> None:
        entries = data.get(section)
        seen: set[str] = set()
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(ReferenceProblem((section, i, "name"), f"duplicate {what} name {name!r}"))
                if section == "routes" and name in RESERVED_ROUTE_NAMES:
                    problems.append(ReferenceProblem((section, i, "name"), f"route name {name!r} is notifier's own "
                                                     f"(reserved: {', '.join(RESERVED_ROUTE_NAMES)}): choose another"))
                seen.add(name)
            check_names((section, i, "to"), entry.get("to"))
            steps = entry.get("escalate")
            for k, step in enumerate(steps if isinstance(steps, list) else []):
                if isinstance(step, Mapping):
                    check_names((section, i, "escalate", k, "to"), step.get("to"))
            check_acknowledge((section, i, "acknowledge"), entry.get("acknowledge"))

    defaults = data.get("defaults")
    if isinstance(defaults, Mapping):
        check_acknowledge(("defaults", "acknowledge"), defaults.get("acknowledge"))
    check_section("routes", "route")
    check_names(("fallback",), data.get("fallback"))
    check_section("digests", "digest")
    return problems
