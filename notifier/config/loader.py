"""Loading ``channels.yaml``: YAML with source positions, ``${ENV}`` interpolation, validation.

Every problem is reported at once, each with its ``file:line:col`` and YAML path::

    channels.yaml:7:11  channels.ops.type: unknown channel type 'emial' (did you mean 'email'?); allowed: ...
    channels.yaml:31:14  routes[2].to[0]: unknown channel 'shop-email' (did you mean 'support-email'?)

The file is composed into YAML nodes (which keep their positions), turned into plain data
while a table ``path -> position`` is recorded, interpolated, then validated by the pydantic
models; each validation error's location is mapped back to the closest recorded path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from notifier.config.errors import ConfigError, ConfigIssue, reference_problems
from notifier.config.errors import Path as DataPath
from notifier.config.issues import Mark, Positions, issue_at, issues_from_validation
from notifier.config.models import Config

__all__ = ["interpolate", "load_config", "load_config_warnings", "located", "parse_config"]


# --------------------------------------------------------------------------- ${ENV}

_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in ``text``; ``$${X}`` is a literal ``${X}``.

    Like the shell, the default also applies when the variable is set but empty. Returns
    the new text and a message for each reference that could not be resolved (those are
    left as written).

    >>> interpolate("smtp://${HOST:-localhost}:25", {})
    ('smtp://localhost:25', [])
    """
    problems: list[str] = []

    def replace(m: re.Match[str]) -> str:
        escaped, body = m.group(1), m.group(2)
        if escaped:
            return "${" + body + "}"
        name, sep, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            problems.append(
                f"invalid reference ${{{body}}}: write ${{NAME}} or ${{NAME:-default}} (and $${{ for a literal ${{)"
            )
            return m.group(0)
        value = env.get(name)
        if value:
            return value
        if sep:
            return default
        if value is None:
            problems.append(f"environment variable {name} is not set (set it, or write ${{{name}:-default}})")
            # Left as written: the file is rejected anyway, and a non-empty value keeps
            # validators (e.g. "slack needs a token") from repeating the same problem.
            return m.group(0)
        return ""

    return _REFERENCE.sub(replace, text), problems


# --------------------------------------------------------------------------- YAML with positions

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StandIns(Mapping[str, str]):
    """The environment, where an unset variable stands in as a harmless value.

    For commands that send nothing (``deliveries``, ``explain``, ``send`` into the store):
    they need the routes, not the secret of a channel they never call.
    """

    def __init__(self, env: Mapping[str, str], key: str) -> None:
        self.env, self.key = env, key

    def __getitem__(self, name: str) -> str:
        if name in self.env:
            return self.env[name]
        if self.key == "smtp":
            return "smtp://unset.invalid"
        if self.key in ("signing_secret", "hmac_secret"):
            return ""
        return f"unset-{name}"

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


class _Builder:
    """Turns composed YAML nodes into plain data, recording positions and problems."""

    def __init__(self, file: str, env: Mapping[str, str], *, unset_ok: bool = False) -> None:
        self.file = file
        self.env = env
        self.unset_ok = unset_ok
        self.positions = Positions()
        self.issues: list[ConfigIssue] = []
        #: Values already found wrong here (an unset variable, an unknown tag): validation
        #: errors about them would only repeat the problem.
        self.reported: set[DataPath] = set()
        self.loader = yaml.SafeLoader("")  # only its scalar constructors are used
        self._open: set[int] = set()  # collections being built, to stop at a self-referring alias

    def issue(self, mark: Mark, path: DataPath, message: str, *, value: bool = True) -> None:
        self.issues.append(ConfigIssue(self.file, mark[0], mark[1], path, message))
        if value:
            self.reported.add(path)

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        mark = _mark(node)
        self.positions.values[path] = mark
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self._open:
                self.issue(mark, path, "an alias refers to the value that contains it")
                return None
            self.positions.collections.add(path)
            self._open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self._open.discard(id(node))
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.constructor.ConstructorError, ValueError) as exc:
            # An unknown tag (``!secret x``) or an impossible date (``2026-13-45``).
            problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            self.issue(mark, path, f"invalid value: {problem}")
            return None
        if node.tag == _STR_TAG and isinstance(value, str) and "${" in value:
            key = path[-1] if path else ""
            env = _StandIns(self.env, str(key)) if self.unset_ok else self.env
            value, problems = interpolate(value, env)
            for message in problems:
                self.issue(mark, path, message)
        return value

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # ``<<: *shared`` merges an anchored mapping (or a list of them); own keys win.
                for source in _merge_sources(value_node):
                    merged = self.build(source, path)
                    self.positions.values[path] = _mark(node)  # the merge target stays here
                    if isinstance(merged, dict):
                        for k, v in merged.items():
                            out.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.issue(_mark(key_node), path, "a key must be a plain word, not a list or mapping", value=False)
                continue
            key_mark = _mark(key_node)
            try:
                key = self.loader.construct_object(key_node)
            except (yaml.constructor.ConstructorError, ValueError):
                key = key_node.value  # validation names it if it is not a known key
            if key in first_seen:
                self.issue(key_mark, path, f"duplicate key {key!r} (first set on line {first_seen[key]})", value=False)
                continue
            first_seen[key] = key_mark[0]
            self.positions.keys[(*path, key)] = key_mark
            out[key] = self.build(value_node, (*path, key))
        return out


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node]


def _compose(text: str, file: str, env: Mapping[str, str], *, unset_ok: bool = False) -> tuple[Any, _Builder]:
    """The file as plain data with ``${ENV}`` interpolated, and the builder that recorded
    where each value is and the problems found so far (duplicate keys, unset variables)."""
    builder = _Builder(file, env, unset_ok=unset_ok)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(file, exc)]) from None
    return ({} if root is None else builder.build(root, ())), builder


def _syntax_issue(file: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context and problem.startswith("but "):  # "expected a single document..., but found..."
        message = f"YAML syntax error: {exc.context}, {problem}"
    elif exc.context:
        where = f" started on line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{where})"
    if mark is None:  # pragma: no cover
        return ConfigIssue(file, None, None, (), message)
    return ConfigIssue(file, mark.line + 1, mark.column + 1, (), message)


# --------------------------------------------------------------------------- entry points


NO_CHANNEL = ("no channel is configured (is the file empty, or cut short?): events would be accepted "
              "and nobody told; add one under `channels:`")


def parse_config(text: str, file: str = "channels.yaml", env: Mapping[str, str] | None = None, *,
                 unset_ok: bool = False, require_channels: bool = False) -> Config:
    """Parse and validate a configuration; raises :class:`ConfigError` with every problem.

    ``env`` holds the variables ``${NAME}`` may use (default: the process environment).
    With ``unset_ok``, an unset variable is no problem: it stands in as a placeholder, for
    commands that read the routes but send nothing. With ``require_channels``, a
    configuration without any channel is refused (see :func:`load_config`).
    """
    data, built = _compose(text, file, os.environ if env is None else env, unset_ok=unset_ok)
    positions, issues = built.positions, list(built.issues)
    if require_channels and isinstance(data, dict) and not data.get("channels"):
        where = positions.of_key(("channels",)) if "channels" in data else None
        issues.append(ConfigIssue(file, *(where or (1, 1)), ("channels",) if where else (), NO_CHANNEL))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        found, references_checked = issues_from_validation(exc, data, positions, file)
        issues += [i for i in found if i.path not in built.reported]
        if not references_checked and isinstance(data, dict):
            # Validation stopped before the cross-reference check: run it on the raw data
            # so that an unknown channel is reported together with everything else.
            issues += [issue_at(file, positions, p.path, p.message) for p in reference_problems(data)]
        raise ConfigError(_unique(issues)) from None
    if issues:
        raise ConfigError(_unique(issues))
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None, *, unset_ok: bool = False,
                require_channels: bool = False) -> Config:
    """Load the configuration file at ``path`` (``FileNotFoundError`` when it is missing).

    A relative ``templates:`` directory is taken relative to the file, not to the current
    directory, so that the service finds it wherever it is started from.

    ``require_channels`` is for a configuration that is to deliver (``serve``, ``worker``,
    a reload, ``check``): an empty or half-written file (an editor or a deployment that
    truncates, then writes) read at that moment would otherwise be taken as a
    configuration under which every request is accepted and nobody is told.
    """
    p = Path(path)
    config = parse_config(_read(p), str(path), env, unset_ok=unset_ok, require_channels=require_channels)
    if config.templates is not None and not config.templates.is_absolute():
        config = config.model_copy(update={"templates": p.parent / config.templates})
    return config


def load_config_warnings(path: str | Path, env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Warnings about the (valid) configuration at ``path``, each at its line: settings that
    load but likely misbehave, such as a dedup key that folds different people together."""
    from notifier.config.lint import config_warnings

    p = Path(path)
    text = _read(p)
    config = parse_config(text, str(path), env)
    _, built = _compose(text, str(path), os.environ if env is None else env)
    return config_warnings(config, built.positions, str(path))


def located(path: str | Path, problems: Mapping[DataPath, str],
            env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """``problems`` found on the configuration loaded from ``path`` (YAML path -> message),
    each at its line in the file, in file order."""
    p = Path(path)
    _, built = _compose(p.read_text(encoding="utf-8"), str(path), os.environ if env is None else env,
                        unset_ok=True)
    return _unique([issue_at(str(path), built.positions, where, message) for where, message in problems.items()])


def _read(path: Path) -> str:
    """The file's text; one not in UTF-8 (saved as Latin-1 by an editor) is a problem at its first odd byte."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        line, col = before.count(b"\n") + 1, len(before) - (before.rfind(b"\n") + 1) + 1
        raise ConfigError([ConfigIssue(str(path), line, col, (), f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): "
                                       "save the file as UTF-8")]) from None


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    # In file order; a value reached twice through a YAML alias is reported once.
    seen: set[tuple[int | None, int | None, str]] = set()
    out = []
    for issue in sorted(issues, key=lambda i: (i.line or 0, i.col or 0)):
        if (issue.line, issue.col, issue.message) not in seen:
            seen.add((issue.line, issue.col, issue.message))
            out.append(issue)
    return out
