"""Command-line overrides in Hydra's grammar, applied to a plain config dict.

Supported forms (those launcher users type): ``a.b=v`` (override an existing key), ``+a.b=v``
(add a new key), ``++a.b=v`` (add or override), ``~a.b`` (delete) and ``group=option`` for the
config groups of the defaults list (``deployment=vllm``). List items are addressed as
``evaluation.tasks.0.name`` or ``evaluation.tasks[0].name``. Values are parsed as YAML, so
``3``, ``true``, ``null``, ``[a,b]`` and ``{k: v}`` mean what they mean in Hydra; ``a=`` is the
empty string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ConfigError

_GROUPS = ("execution", "deployment")
_MISSING = object()


@dataclass(frozen=True)
class Override:
    """One parsed ``-o`` argument."""

    op: str  # "set", "add", "force", "delete"
    path: tuple[str | int, ...]
    key: str
    value: Any = None


def parse_override(text: str) -> Override:
    """Parse one override; raises :class:`ConfigError` naming the override when malformed."""
    op = "set"
    body = text.strip()
    if body.startswith("++"):
        op, body = "force", body[2:]
    elif body.startswith("+"):
        op, body = "add", body[1:]
    elif body.startswith("~"):
        op, body = "delete", body[1:]
    key, sep, raw = body.partition("=")
    key = key.strip()
    if op != "delete" and not sep:
        raise ConfigError(f"-o {key or text}", "an override needs the form key=value",
                          hint="write e.g. -o execution.output_dir=results, +key=value to add, ~key to delete")
    if not re.fullmatch(r"[A-Za-z_][\w\-]*(\.[\w\-]+|\[\d+\])*", key):
        raise ConfigError(f"-o {key or '?'}", "not a valid key path",
                          hint="use dotted keys such as target.api_endpoint.url or evaluation.tasks.0.name")
    path = tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", key) if p != "")
    value = _parse_value(raw) if sep else None
    return Override(op, path, key, value)


def _parse_value(raw: str) -> Any:
    if raw == "":
        return ""
    from .yamlio import guarded_load

    try:
        return guarded_load(raw, "an -o value")  # alias bombs and duplicate keys are errors here too
    except yaml.YAMLError:
        return raw


def group_choices(overrides: list[Override]) -> dict[str, str]:
    """The ``group=option`` overrides (``deployment=vllm``), which change the defaults list."""
    return {o.key: str(o.value) for o in overrides
            if o.op in ("set", "force") and o.key in _GROUPS and isinstance(o.value, str)}


def apply_overrides(config: dict, overrides: list[Override]) -> None:
    """Apply the non-group overrides to ``config`` in place, in order."""
    for o in overrides:
        if o.key in group_choices([o]):
            continue
        parent = _walk(config, o)
        last = o.path[-1]
        present = _get(parent, last) is not _MISSING
        if o.op == "delete":
            if not present:
                raise ConfigError(o.key, "cannot delete a key that is not in the config")
            del parent[last]
        elif o.op == "set" and not present:
            raise ConfigError(o.key, "no such key to override",
                              hint=f"to add a new key write +{o.key}=...")
        elif o.op == "add" and present:
            raise ConfigError(o.key, "key already set, cannot add it",
                              hint=f"to change it write {o.key}=...")
        else:
            if isinstance(parent, list) and last == len(parent):
                parent.append(o.value)
            else:
                parent[last] = o.value


def _get(node: Any, key: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING


def _walk(config: dict, o: Override) -> Any:
    node: Any = config
    for i, part in enumerate(o.path[:-1]):
        child = _get(node, part)
        if child is _MISSING:
            if o.op in ("add", "force") and isinstance(node, dict):
                child = node[part] = {}
            else:
                where = ".".join(str(p) for p in o.path[: i + 1])
                raise ConfigError(o.key, f"'{where}' is not in the config",
                                  hint=f"to add a new key write +{o.key}=...")
        if not isinstance(child, (dict, list)):
            raise ConfigError(o.key, "cannot set a key below a value that is not a mapping")
        node = child
    if isinstance(node, list) and not isinstance(o.path[-1], int):
        raise ConfigError(o.key, "list items are addressed by number", hint="e.g. evaluation.tasks.0.name")
    return node
