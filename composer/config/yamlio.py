"""Reading the files users hand us (configs, env files) without hanging, crashing or guessing.

Every reader here turns bad input into one :class:`~composer.errors.ConfigError` naming the file:

- a size limit (``MAX_CONFIG_BYTES``, ``MAX_ENV_BYTES``) checked before the file is read whole;
- UTF-8 only: a binary or otherwise encoded file is refused with the offset of the first bad byte;
- YAML anchors/aliases are counted while parsing, so an alias bomb ("billion laughs") stops after
  ``MAX_ALIASES`` aliases instead of expanding to gigabytes, and nesting deeper than ``MAX_DEPTH``
  levels is refused before the recursive constructor could exhaust the stack;
- a mapping that repeats a key is an error naming both lines (YAML's own rule; PyYAML silently
  keeps the last one).

:func:`read_yaml_file` is what :func:`composer.config.loader._read_yaml` calls;
:func:`read_env_file` is what ``--env-file`` / ``./.env`` go through.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: the largest real config we know is ~20 KB
MAX_ENV_BYTES = 1 << 20
MAX_ALIASES = 1000
MAX_DEPTH = 64
MAX_NODES = 200_000  # scalars + containers once aliases are expanded (what merging and OmegaConf walk)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooComplex(Exception):
    """Raised inside the loader; turned into a ConfigError with the file's name."""


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases, limits depth and refuses duplicate keys.

    The pure-Python loader is used (not libyaml) because the checks hook into composition;
    configs are small, so the cost is a few milliseconds.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooComplex(f"more than {MAX_ALIASES} aliases (*name)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooComplex(f"nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise _Duplicate(key, first, line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _Duplicate(Exception):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


def read_text_limited(path: Path, limit: int, what: str) -> str:
    """The file's text, UTF-8 (a BOM is allowed), at most ``limit`` bytes; ConfigError otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise ConfigError(None, f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(None, f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(None, f"{what} {path} is larger than {limit // 1024} KiB",
                          hint="is it the right file? configs and env files are small text files")
    if b"\0" in data:
        offset = data.index(b"\0")
        raise ConfigError(None, f"{what} {path} is a binary file (NUL byte at offset {offset})",
                          hint="give a UTF-8 text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(None, f"{what} {path} is not UTF-8 text (bad byte at offset {exc.start})",
                          hint="save it as UTF-8") from None


def guarded_load(text: str, name: str) -> Any:
    """Like ``yaml.safe_load`` (a :class:`yaml.YAMLError` propagates), with the guards above.

    Alias bombs, deep nesting and duplicate keys raise :class:`ConfigError` naming ``name``.
    """
    try:
        data = yaml.load(text, Loader=_GuardedLoader)  # a SafeLoader subclass
    except _TooComplex as exc:
        raise ConfigError(None, f"{name} is too complex: {exc}",
                          hint="a config this large or deep is a mistake or an attack (YAML alias bomb)") from None
    except _Duplicate as exc:
        raise ConfigError(None, f"{name}: key '{_short(exc.key)}' appears twice (lines {exc.first} and {exc.second})",
                          hint="keep one of them: YAML forbids duplicate keys") from None
    except RecursionError:
        raise ConfigError(None, f"{name} is too complex: nesting too deep",
                          hint="a config this deep is a mistake or an attack") from None
    if _expanded_size(data) > MAX_NODES:
        raise ConfigError(None, f"{name} is too complex: more than {MAX_NODES} values once aliases are expanded",
                          hint="a config this large is a mistake or an attack (YAML alias bomb)")
    return data


def parse_yaml(text: str, name: str) -> Any:
    """Parse one YAML document with the guards above; ``name`` is used in messages."""
    try:
        return guarded_load(text, name)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(None, f"{name} is not valid YAML{where}", hint="check indentation and quoting") from None


def _expanded_size(data: Any) -> int:
    """Values in ``data`` counting every alias as a copy; stops counting past MAX_NODES."""
    count, stack = 0, [data]
    while stack and count <= MAX_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def read_yaml_file(path: Path) -> dict:
    """A config file as a mapping (``{}`` when empty); every failure is one ConfigError."""
    data = parse_yaml(read_text_limited(path, MAX_CONFIG_BYTES, "config"), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(None, f"{path} must hold a mapping at the top level")
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (dotenv syntax) of an env file; names checked, values never echoed."""
    from io import StringIO

    from dotenv import dotenv_values

    text = read_text_limited(path, MAX_ENV_BYTES, "env file")
    values = dotenv_values(stream=StringIO(text))
    for name in values:
        if not _ENV_NAME.fullmatch(name):  # never echo it: a stray line may be a pasted secret
            raise ConfigError("--env-file", f"{path} line {_line_of(text, name)} is not NAME=value",
                              hint="names are letters, digits and _; the line is not shown (it may hold a secret)")
    return {k: v for k, v in values.items() if v is not None}


def _line_of(text: str, name: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if name.strip() and name.strip() in line:
            return str(number)
    return "?"


def _short(value: Any) -> str:
    text = str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."
