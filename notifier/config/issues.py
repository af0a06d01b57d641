"""From pydantic's validation errors to messages an admin understands, each at its line.

A pydantic error's ``loc`` follows the models, not the file: a discriminated union adds
its tag (``('channels', 'desk', 'zendesk', 'email')``) and a missing field names a key the
file does not have. The models' types are walked alongside the location to drop the tags,
then the location is looked up in the positions recorded while reading the YAML.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from notifier.config.errors import ConfigIssue, ReferenceProblems, did_you_mean
from notifier.config.errors import Path as DataPath
from notifier.config.models import Config

__all__ = ["Positions", "issue_at", "issues_from_validation"]

Mark = tuple[int, int]


@dataclass
class Positions:
    """Where each value (and each mapping key) of the file starts, as 1-based ``(line, col)``."""

    values: dict[DataPath, Mark] = field(default_factory=dict)
    keys: dict[DataPath, Mark] = field(default_factory=dict)
    collections: set[DataPath] = field(default_factory=set)

    def of_key(self, path: DataPath) -> Mark | None:
        """The position of the key naming ``path``, else of the closest enclosing value."""
        return self.keys.get(path) or self.of_value(path)

    def of_value(self, path: DataPath) -> Mark | None:
        """The position of the value at ``path``, or of its closest recorded ancestor.

        A mapping or list written under a key points at its key: ``support-email:`` reads
        better than the first line of its body.
        """
        while path not in self.values:
            if not path:
                return None
            path = path[:-1]
        if path in self.collections and path in self.keys:
            return self.keys[path]
        return self.values[path]


def issue_at(file: str, positions: Positions, path: DataPath, message: str, *, key: bool = False) -> ConfigIssue:
    """An issue about the value (or, with ``key``, the key) at ``path``."""
    mark = positions.of_key(path) if key else positions.of_value(path)
    return ConfigIssue(file, mark[0] if mark else None, mark[1] if mark else None, path, message)


def issues_from_validation(
    exc: ValidationError, data: Any, positions: Positions, file: str
) -> tuple[list[ConfigIssue], bool]:
    """Every error of ``exc`` as a :class:`ConfigIssue`; the flag says whether the
    cross-reference check ran (it runs only once everything else validated)."""
    issues: list[ConfigIssue] = []
    references_checked = False
    for err in exc.errors():
        problem = (err.get("ctx") or {}).get("error")
        if isinstance(problem, ReferenceProblems):
            references_checked = True
            issues += [issue_at(file, positions, p.path, p.message) for p in problem.problems]
            continue
        issues.append(_issue(err, data, positions, file))
    return issues, references_checked


# --------------------------------------------------------------------------- one error


def _issue(err: Any, data: Any, positions: Positions, file: str) -> ConfigIssue:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    if loc and loc[-1] == "[key]":  # a mapping key of the wrong type
        path, _ = _data_path(loc[:-1])
        return issue_at(file, positions, path, f"invalid key {value!r}: {_lower(err['msg'])}", key=True)
    path, _ = _data_path(loc)

    if kind == "extra_forbidden":
        parent, owner = _data_path(loc[:-1])
        key = str(loc[-1])
        hint = did_you_mean(key, _keys_of(owner)) if owner else ""
        if not hint and owner:
            hint = f" (known keys: {', '.join(_keys_of(owner))})"
        # Named under its mapping: the key itself is what is wrong.
        return issue_at(file, positions, path, f"unknown key {key!r}{hint}", key=True).with_path(parent)
    if kind == "missing":
        parent, _ = _data_path(loc[:-1])
        return issue_at(file, positions, parent, f"missing required key {loc[-1]!r}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "type")).strip("'")
        allowed = _quoted(str(ctx.get("expected_tags", ""))) or _union_tags(loc, tag)
        if kind == "union_tag_not_found":
            here = _get(data, path)
            for key in here if isinstance(here, dict) else ():
                if did_you_mean(str(key), [tag]):  # ``tpye: email``: the typo is the problem
                    message = f"unknown key {key!r}{did_you_mean(str(key), [tag])}"
                    return issue_at(file, positions, (*path, key), message, key=True).with_path(path)
            message = f"missing required key {tag!r} (one of: {', '.join(allowed)})"
            return issue_at(file, positions, path, message)
        what = "channel type" if path[:1] == ("channels",) else tag
        tag_value = ctx.get("tag")
        message = f"unknown {what} {tag_value!r}{did_you_mean(str(tag_value), allowed)}; allowed: {', '.join(allowed)}"
        return issue_at(file, positions, (*path, tag), message)
    if kind in ("enum", "literal_error"):
        allowed = _quoted(str(ctx.get("expected", "")))
        what = _noun(path)
        hint = did_you_mean(str(value), allowed) if isinstance(value, str) else ""
        return issue_at(file, positions, path, f"unknown {what} {value!r}{hint}; allowed: {', '.join(allowed)}")
    return issue_at(file, positions, path, _message(kind, err, value))


def _message(kind: str, err: Any, value: Any) -> str:
    if kind in ("value_error", "assertion_error"):
        return str(err["ctx"]["error"]) if "error" in (err.get("ctx") or {}) else _lower(err["msg"])
    loc = err.get("loc") or ()
    if kind == "list_type" and loc and loc[-1] in _ONE_OR_MANY:
        # ``site: shop.example.com`` is taken as well as a list: "expected a list" misleads.
        return f"expected {_ONE_OR_MANY[loc[-1]]}, got {_shown(value)}"
    expected = _EXPECTED.get(kind)
    if expected:
        return f"expected {expected}, got {_shown(value)}"
    if kind == "too_short":
        n = err["ctx"]["min_length"]
        return f"needs at least {n} item{'s' if n != 1 else ''}"
    return _lower(err["msg"]).replace("input should be", "should be") + (
        f", got {_shown(value)}" if not isinstance(value, dict | list) else ""
    )


_EXPECTED = {
    "model_type": "a mapping of keys and values",
    "model_attributes_type": "a mapping of keys and values",
    "dict_type": "a mapping of keys and values",
    "list_type": "a list",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "path_type": "a directory path",
}

#: The match fields that take one value or a list of them (``models._as_list``).
_ONE_OR_MANY = {"site": "a site (text) or a list of them", "priority": "a priority or a list of them"}

_NOUNS = {"kinds": "kind", "priority": "priority", "role": "role", "days": "day", "sections": "section",
          "when": "'when'", "version": "version"}


def _get(data: Any, path: DataPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _noun(path: DataPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return _NOUNS.get(part, "value")
    return "value"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _lower(msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


def _quoted(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` -> ``['a', 'b', 'c']``."""
    return re.findall(r"'([^']*)'", expected) or [x.strip() for x in re.split(r",| or ", expected) if x.strip()]


# --------------------------------------------------------------------------- loc -> data path


def _data_path(loc: Sequence[str | int]) -> tuple[DataPath, type[BaseModel] | None]:
    """The part of ``loc`` that exists in the file, and the model found at its end (if any)."""
    tp: Any = Config
    path: list[str | int] = []
    for part in loc:
        nxt, is_tag = _step(tp, part)
        if not is_tag:
            path.append(part)
        tp = nxt
    end = _unwrap(tp)
    return tuple(path), end if isinstance(end, type) and issubclass(end, BaseModel) else None


def _step(tp: Any, part: str | int) -> tuple[Any, bool]:
    """The type one step down ``tp`` along ``part``; ``True`` when ``part`` is a union tag."""
    tp = _unwrap(tp)
    if tp is None:
        return None, False
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for member in get_args(tp):
            if isinstance(part, str) and isinstance(member, type) and issubclass(member, BaseModel) \
                    and part in _tags(member):
                return member, True
        return None, False
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation, False
        return None, False
    if origin is dict:
        return get_args(tp)[1], False
    if origin is list:
        return get_args(tp)[0], False
    return None, False


def _union_tags(loc: Sequence[str | int], discriminator: str) -> list[str]:
    """The values the ``discriminator`` key may take in the union at ``loc``."""
    tp: Any = Config
    for part in loc:
        tp, _ = _step(tp, part)
    tags: list[str] = []
    for member in get_args(_unwrap(tp)):
        info = getattr(member, "model_fields", {}).get(discriminator)
        if info is not None and get_origin(info.annotation) is Literal:
            tags += [str(a) for a in get_args(info.annotation)]
    return tags


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` until a model, a container or a real union is left."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _tags(model: type[BaseModel]) -> set[str]:
    """The literal values a model's fields admit: its discriminator tag among them."""
    tags: set[str] = set()
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal:
            tags.update(str(a) for a in get_args(info.annotation))
    return tags


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]
