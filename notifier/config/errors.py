"""Configuration errors, each naming ``file:line:col`` and the YAML path.

Example of what an admin sees::

    channels.yaml:42:9  routes[3].to[1]: unknown channel 'slak' (did you mean 'slack'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue", "ReferenceProblem", "ReferenceProblems", "did_you_mean", "format_path"]

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
        return f"{where}  {format_path(self.path)}: {self.message}"


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
