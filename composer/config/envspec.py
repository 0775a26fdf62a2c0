"""``env_vars`` values: where a variable's value comes from, parsed once into :class:`EnvSpec`.

    host:NAME      the host variable NAME, read when the run starts (a compose secret)
    runtime:NAME   the same, spelled as the launcher's runtime form
    lit:VALUE      the literal VALUE, written into the run folder (so never for a secret)

The seed documents' other spellings (an unprefixed NAME) are rewritten to ``host:NAME`` by
:mod:`composer.config.legacy` before anything parses them; a new spelling is added there, or
here in :func:`parse_env_spec` (one place).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import ConfigError


class EnvSource(str, Enum):
    HOST = "host"
    RUNTIME = "runtime"
    LIT = "lit"


ENV_PREFIXES = tuple(f"{s.value}:" for s in EnvSource)


@dataclass(frozen=True)
class EnvSpec:
    """One ``env_vars`` value: its source and its text (a host variable name, or the literal)."""

    source: EnvSource
    value: str

    @property
    def host_variable(self) -> str | None:
        """The host variable it reads (host: and runtime:), None for a literal."""
        return None if self.source is EnvSource.LIT else self.value

    def __str__(self) -> str:
        return f"{self.source.value}:{self.value}"


def parse_env_spec(text: str, where: str) -> EnvSpec:
    """Parse one value; :class:`ConfigError` naming the key path ``where`` when it has no known prefix."""
    kind, sep, value = str(text).partition(":")
    try:
        source = EnvSource(kind)
    except ValueError:
        source = None
    if not sep or source is None:
        raise ConfigError(where, "value needs a host:, lit: or runtime: prefix", hint="e.g. host:HF_TOKEN")
    return EnvSpec(source, value)
