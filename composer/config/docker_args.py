"""``execution.extra_docker_args``: the ``docker run`` flags users write, as compose settings.

The launcher splices this string into ``docker run``. evalcompose translates the flags people
actually use and refuses anything else with an error that names the flag (never splicing raw text
into a file that others rerun):

    --network NAME | --net NAME   join an existing network (``host``: host networking)
    --gpus all|N|device=...       GPU access for every task container
    --shm-size SIZE               /dev/shm size
    -e/--env KEY=VALUE | KEY      an environment variable (a bare KEY comes from the host, as a secret)
    -v/--volume SRC:DST[:ro]      a bind mount or named volume
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..errors import ConfigError

KEY = "execution.extra_docker_args"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL", re.IGNORECASE)
_FLAGS = {"--network": "network", "--net": "network", "--gpus": "gpus", "--shm-size": "shm_size",
          "-e": "env", "--env": "env", "-v": "volume", "--volume": "volume"}


@dataclass
class DockerExtras:
    """What the flags asked for."""

    network: str | None = None
    gpus: str | None = None
    shm_size: str | None = None
    env: dict[str, str] = field(default_factory=dict)       # literal values
    host_env: list[str] = field(default_factory=list)       # names read from the host
    volumes: list[str] = field(default_factory=list)


def parse_docker_args(text: str) -> DockerExtras:
    """Parse the flag string; :class:`ConfigError` naming the first unsupported flag."""
    try:
        words = shlex.split(text or "")
    except ValueError:
        raise ConfigError(KEY, "unbalanced quotes", hint="quote values as in a shell") from None
    out = DockerExtras()
    i = 0
    while i < len(words):
        flag, eq, value = words[i].partition("=")
        kind = _FLAGS.get(flag)
        if kind is None:  # a word that is no flag may be a pasted value (a key): never echo it
            shown = f"flag {flag}" if flag.startswith("-") and not looks_secret(flag) else f"word {i + 1} (not a flag)"
            raise ConfigError(KEY, f"{shown} is not supported",
                              hint="supported: --network, --gpus, --shm-size, -e/--env, -v/--volume")
        if not eq:
            if i + 1 >= len(words):
                raise ConfigError(KEY, f"flag {flag} needs a value")
            value = words[i + 1]
            i += 1
        i += 1
        if kind == "network":
            out.network = value
        elif kind == "gpus":
            out.gpus = value
        elif kind == "shm_size":
            out.shm_size = value
        elif kind == "env":
            name, has_value, literal = value.partition("=")
            if has_value:
                if looks_secret(name):
                    raise ConfigError(KEY, f"-e {name}=... would write a secret into the run folder",
                                      hint=f"write -e {name} to read it from your shell or .env")
                out.env[name] = literal
            else:
                out.host_env.append(name)
        else:
            if ":" not in value:
                raise ConfigError(KEY, f"volume {value.split(':')[0]!r} needs SRC:DST", hint="e.g. -v /data:/data:ro")
            out.volumes.append(value)
    return out


def looks_secret(name: str) -> bool:
    """True for variable names that by convention hold credentials (API_KEY, HF_TOKEN, ...)."""
    return bool(_SECRET_NAME.search(name))
