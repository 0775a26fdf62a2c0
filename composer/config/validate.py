"""Checks on a validated config that the types alone do not express, run before anything is written.

Called by :func:`composer.config.loader.load_config` once the pydantic models accepted the
config. Each failure is one :class:`~composer.errors.ConfigError` naming the key path (never
the value, which may be a secret):

- env var names are ``[A-Za-z_][A-Za-z0-9_]*`` in every ``env_vars`` scope;
- no value that becomes one line of a file or one word of a command (paths, image names, user,
  model ids, network names, health paths) holds a newline or another control character;
- images are Docker references, ``user`` is ``UID[:GID]`` or a name, paths in containers are
  absolute, ports are 1-65535, URLs are http(s) with a host;
- ``nemo_evaluator_config`` (evaluation level and each task's own) through :mod:`.params`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..errors import ConfigError
from .docker_args import parse_docker_args
from .models import EvalConfig
from .params import check_nemo_evaluator_config
from .urls import check_port, check_url

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                   r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")
USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?")
NETWORK = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
SHM_SIZE = re.compile(r"[0-9]+(?:\.[0-9]+)?[bkmgBKMG]?[bB]?")


def check_config(cfg: EvalConfig) -> None:
    """Raise :class:`ConfigError` for the first value that would make a file or a command lie."""
    _check_env_scopes(cfg)
    ex, d, ep = cfg.execution, cfg.deployment, cfg.target.api_endpoint
    _line(ex.output_dir, "execution.output_dir")
    if ex.user is not None and not USER.fullmatch(ex.user):
        raise ConfigError("execution.user", "must be UID[:GID] (or a user name)", hint='e.g. "1000:1000"')
    for host, target in ex.mounts.deployment.items():
        _path_pair(host, target, "execution.mounts.deployment")
    for host, target in ex.mounts.evaluation.items():
        _path_pair(host, target, "execution.mounts.evaluation")
    extras = parse_docker_args(ex.extra_docker_args)
    if extras.network and not NETWORK.fullmatch(extras.network):
        raise ConfigError("execution.extra_docker_args", "--network needs a network name (letters, digits, _ . -)")
    for volume in extras.volumes:
        source, _, rest = volume.partition(":")
        _path_pair(source, rest.split(":")[0], "execution.extra_docker_args (-v)")
    if extras.shm_size and not SHM_SIZE.fullmatch(extras.shm_size):
        raise ConfigError("execution.extra_docker_args", "--shm-size needs a size", hint="e.g. --shm-size 16g")
    for name in [*extras.env, *extras.host_env]:
        _env_name(name, "execution.extra_docker_args (-e)")
    for name, value in extras.env.items():
        _line(value, f"execution.extra_docker_args (-e {name})")
    if ep.url is not None:
        check_url(ep.url, "target.api_endpoint.url")
    _line(ep.model_id, "target.api_endpoint.model_id")
    check_nemo_evaluator_config(cfg.evaluation.nemo_evaluator_config, "evaluation.nemo_evaluator_config")
    for i, task in enumerate(cfg.evaluation.tasks):
        key = f"evaluation.tasks[{i}]"
        _line(task.name, f"{key}.name")
        check_nemo_evaluator_config(task.nemo_evaluator_config, f"{key}.nemo_evaluator_config")
        if task.container is not None:
            _image(task.container, f"{key}.container")
        if task.dataset_dir is not None:
            _path_pair(task.dataset_dir, task.dataset_mount_path, key, keys=("dataset_dir", "dataset_mount_path"))
    if d.type != "none":
        _check_deployment(cfg)


def _check_deployment(cfg: EvalConfig) -> None:
    d = cfg.deployment
    if d.image is not None:
        _image(d.image, "deployment.image")
    _line(d.served_model_name, "deployment.served_model_name")
    for key in ("checkpoint_path", "cache_path"):
        _line(getattr(d, key), f"deployment.{key}")
    check_port(d.port, "deployment.port")
    check_port(d.publish_port, "deployment.publish_port")
    for key in ("chat", "completions", "health", "embedding", "ranking"):
        path = getattr(d.endpoints, key)
        if path is not None and (not path.startswith("/") or any(c.isspace() for c in path) or has_control(path)):
            raise ConfigError(f"deployment.endpoints.{key}", "must be a URL path starting with / (no spaces)",
                              hint="e.g. /v1/chat/completions")
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size"):
        if getattr(d, key) < 1:
            raise ConfigError(f"deployment.{key}", "must be >= 1")
    if isinstance(d.gpus, int) and d.gpus < 0:
        raise ConfigError("deployment.gpus", "must be a count >= 0, all, none or auto")
    if d.shm_size is not None and not SHM_SIZE.fullmatch(d.shm_size):
        raise ConfigError("deployment.shm_size", "must be a size", hint="e.g. 16g")
    if d.command is not None and "\0" in d.command:
        raise ConfigError("deployment.command", "holds a NUL character")
    if d.command is not None and not d.command.strip():
        raise ConfigError("deployment.command", "is empty", hint="the server's command line, e.g. vllm serve MODEL")


def _check_env_scopes(cfg: EvalConfig) -> None:
    scopes = [("env_vars", cfg.env_vars), ("evaluation.env_vars", cfg.evaluation.env_vars),
              ("deployment.env_vars", cfg.deployment.env_vars)]
    scopes += [(f"evaluation.tasks[{i}].env_vars", t.env_vars) for i, t in enumerate(cfg.evaluation.tasks)]
    for where, env in scopes:
        for name, spec in env.items():
            _env_name(name, where)
            kind, _, value = str(spec).partition(":")
            if kind in ("host", "runtime"):
                _env_name(value, f"{where}.{name}", what="the host variable it names")
            elif "\0" in str(spec):
                raise ConfigError(f"{where}.{name}", "holds a NUL character (no environment variable can)")


def _env_name(name: Any, where: str, what: str = "an environment variable name") -> None:
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        shown = "" if what != "an environment variable name" else f" '{_printable(name)}'"
        raise ConfigError(where, f"{what}{shown} is not a valid name",
                          hint="names are letters, digits and _, not starting with a digit")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character or a line break (anything ``splitlines`` splits on)."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def _line(value: Any, where: str) -> None:
    """A value written as one line or one word: no newline, no control character."""
    if isinstance(value, str) and has_control(value):
        raise ConfigError(where, "holds a newline or another control character", hint="give it on one line")


def _image(image: str, where: str) -> None:
    if not IMAGE.fullmatch(image) or len(image) > 512:
        raise ConfigError(where, "is not a Docker image reference",
                          hint="e.g. nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6 (lower-case name, optional :tag)")


def _path_pair(host: str, target: str, where: str, keys: tuple[str, str] | None = None) -> None:
    host_key, target_key = (f"{where}.{keys[0]}", f"{where}.{keys[1]}") if keys else (where, where)
    _line(host, host_key)
    _line(target, target_key)
    if not str(target).startswith("/"):
        raise ConfigError(target_key, "the container path must be absolute", hint="e.g. /data")
    if not str(host):
        raise ConfigError(host_key, "the host path is empty")


def _printable(value: Any) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= 40 else text[:37] + "..."
