"""PURE: a validated config -> the plan of one invocation (services, order, env, mounts).

No Docker, no files, no clock: the invocation id, the time and the user are arguments, so the
same inputs always give the same plan (and the same rendered files, see :mod:`composer.render`).

Order and the concurrency cap live in the compose project itself: with ``max_parallel: N``
(``mode: sequential`` is N=1) every task container starts at once and its entrypoint takes one of
N slots (a lock on a volume the tasks share) before the harness runs, in config order (the task's
``index`` is its ticket). A slot frees the moment any task ends, so the cap is work-conserving, and
plain ``docker compose up`` keeps it (see compose-templates/task-entrypoint.sh).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import __version__, deploy
from .catalog import Catalog, check_endpoint, endpoint_type_of_url
from .config import EvalConfig, LoadedConfig
from .config.docker_args import DockerExtras, looks_secret, parse_docker_args
from .config.envspec import parse_env_spec
from .config.legacy import deep_merge
from .config.models import check_host
from .errors import ConfigError
from .images import BUILTIN_HARNESS, HarnessBuild, harness_build
from .paths import host_path
from .spread import HostSpec, host_specs

RESULTS_DIR = "/results"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class Mount:
    source: str  # relative to the run folder, absolute, or a named volume
    target: str
    read_only: bool = False
    volume: bool = False  # source is a named volume (docker run -v NAME:/path)


@dataclass(frozen=True)
class TaskPlan:
    """One task: one compose service."""

    index: int
    job_id: str
    service: str
    task: str  # harness.task
    name: str  # the task's own name, config.type in the run config
    harness: str
    image: str
    endpoint_type: str
    run_config: dict[str, Any]
    env: dict[str, str]  # literal, non-secret values
    secrets: dict[str, str]  # container variable -> host variable, delivered as compose secrets
    mounts: tuple[Mount, ...]
    build: bool = False  # the image is built from PyPI (build_spec), not pulled
    hooks: dict[str, str] = field(default_factory=dict)  # pre_cmd / post_cmd shell text
    build_spec: HarnessBuild | None = None


@dataclass(frozen=True)
class Plan:
    """Everything the renderer needs for one invocation."""

    invocation_id: str
    project: str
    created: datetime
    run_dir: Path
    user: str
    tasks: tuple[TaskPlan, ...]
    model: deploy.ModelPlan | None
    network_mode: str | None  # "host" or None (the project network)
    external_network: str | None
    extras: DockerExtras
    max_parallel: int | None  # slots (tasks at once); None: no cap
    notes: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    hosts: tuple[HostSpec, ...] = ()  # execution.hosts / --host: the engines the tasks are spread over
    # lit: values under secret names, by host variable: handed to compose's environment at up, never rendered
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def host_variables(self) -> list[str]:
        """Every host variable the run reads (values never stored), sorted."""
        names = {h for t in self.tasks for h in t.secrets.values()}
        if self.model:
            names |= set(self.model.secrets.values())
        return sorted(names)


def build_plan(loaded: LoadedConfig, catalog: Catalog, *, invocation_id: str, now: datetime,
               user: str, cwd: Path, home: Path | None = None, hosts: list[str] | None = None) -> Plan:
    """The plan for ``loaded``; raises :class:`ConfigError` for what only shows up here.

    ``cwd`` and ``home`` are what relative and ``~`` paths in the config mean (home None: ``$HOME``);
    ``hosts`` (``--host``) replaces ``execution.hosts``.
    """
    cfg = loaded.config
    notes = list(loaded.notes)
    extras = parse_docker_args(cfg.execution.extra_docker_args)
    notes += extras.notes
    if "env_file" in extras.service:  # --env-file paths are the user's, relative to where up runs
        extras.service["env_file"] = [host_path(p, cwd) for p in extras.service["env_file"]]
    model = deploy.plan_model(cfg, cwd, home) if cfg.deployment.type != "none" else None
    endpoint = cfg.target.api_endpoint
    url = endpoint.url
    network_mode = None
    if model is None:
        if not url:
            raise ConfigError("target.api_endpoint.url", "is required when deployment is none",
                              hint="e.g. https://integrate.api.nvidia.com/v1/chat/completions")
        host = urlsplit(url).hostname or ""
        if extras.network == "host":
            network_mode = "host"
        elif host in LOOPBACK:
            network_mode = "host"
            notes.append(f"target.api_endpoint.url points at {host}: tasks use host networking to reach it")
    elif url:
        notes.append("target.api_endpoint.url is replaced by the co-deployed model service's URL")
    if model and "/checkpoint" in model.command.split() and not cfg.deployment.checkpoint_path:
        notes.append("deployment.command reads /checkpoint but deployment.checkpoint_path is not set: "
                     "nothing is mounted there (the launcher reads it with .get(), so it is optional)")
    if model and extras.network == "host":
        raise ConfigError("execution.extra_docker_args", "--network host cannot reach a co-deployed model service",
                          hint="drop --network host: tasks reach the model on the project network")
    external = extras.network if extras.network not in (None, "host") else None
    slots = 1 if cfg.execution.mode == "sequential" else cfg.execution.max_parallel
    notes.append(f"execution.mode: {cfg.execution.mode}" + (f" (at most {slots} at once)" if slots and slots > 1 else ""))
    output_dir = Path(cfg.execution.output_dir)
    run_dir = (output_dir if output_dir.is_absolute() else cwd / output_dir) / f"{now:%Y%m%d_%H%M%S}-{invocation_id}"

    services: set[str] = {"model"} if model else set()
    tasks: list[TaskPlan] = []
    resolved_tasks = []
    for i, task_cfg in enumerate(cfg.evaluation.tasks):
        key = f"evaluation.tasks[{i}]"
        wanted = task_cfg.endpoint_type or endpoint.type or (None if model else endpoint_type_of_url(url))
        resolved = catalog.resolve_for_run(task_cfg.name, wanted, f"{key}.name", container=task_cfg.container,
                                           prefer="chat" if model else None)
        if resolved.note:
            notes.append(resolved.note)
        ctask = resolved.task
        resolved_tasks.append(ctask)
        etype = check_endpoint(ctask, wanted, f"{key}.name")
        task_url = model.url_for(etype) if model else url
        service = _unique(_service_name(ctask.name), services)
        services.add(service)
        for where, own in ((f"{key}.nemo_evaluator_config", task_cfg.nemo_evaluator_config),
                           ("evaluation.nemo_evaluator_config", cfg.evaluation.nemo_evaluator_config)):
            _check_nemo_evaluator_config(own, where)
        nec = deep_merge(cfg.evaluation.nemo_evaluator_config, task_cfg.nemo_evaluator_config)
        run_config = _run_config(nec, ctask.name, cfg, task_url, etype, model)
        run_config["metadata"] = _metadata(loaded.resolved)
        env, secrets = _environment(cfg, task_cfg, extras, key)
        if (cfg.execution.user or user).split(":")[0] not in ("0", "root"):
            env.setdefault("HOME", "/tmp")
        mounts = [Mount(f"{service}/artifacts", RESULTS_DIR), Mount(f"{service}/logs", "/evalcompose/logs"),
                  Mount(f"{service}/run_config.yml", "/evalcompose/run_config.yml", True),
                  Mount("evalcompose-task.sh", "/evalcompose/task.sh", True)]
        hooks = {k: v for k in ("pre_cmd", "post_cmd")
                 if (v := getattr(task_cfg, k) or getattr(cfg.evaluation, k))}
        mounts += [Mount(f"{service}/{k}.sh", f"/evalcompose/{k}.sh", True) for k in hooks]
        if task_cfg.dataset_dir:
            mounts.append(Mount(host_path(task_cfg.dataset_dir, cwd, home), task_cfg.dataset_mount_path, True))
            env["NEMO_EVALUATOR_DATASET_DIR"] = task_cfg.dataset_mount_path
        mounts += [_volume_mount(v, cwd, home) for v in extras.volumes]
        mounts += [_bind_mount(src, dst, cwd, home) for src, dst in cfg.execution.mounts.evaluation.items()]
        spec = _build_spec(cfg, task_cfg, ctask, key)
        tasks.append(TaskPlan(index=i, job_id=f"{invocation_id}.{i}", service=service, task=ctask.qualified,
                              name=ctask.name, harness=ctask.harness,
                              image=spec.tag if spec else task_cfg.container or ctask.image,
                              endpoint_type=etype, run_config=run_config, env=env, secrets=secrets,
                              mounts=tuple(mounts), hooks=hooks, build=spec is not None,
                              build_spec=spec))
    if model:  # a llama-server gets one slot per request the tasks can send at once
        model = deploy.with_slots(model, cfg, deploy.peak_concurrency(
            [_parallelism(t.run_config, c) for t, c in zip(tasks, resolved_tasks, strict=True)], slots))
    return Plan(invocation_id=invocation_id, project=f"evalcompose-{invocation_id}", created=now, run_dir=run_dir,
                user=cfg.execution.user or user, tasks=tuple(tasks), model=model, network_mode=network_mode,
                external_network=external, extras=extras, max_parallel=slots, notes=tuple(notes),
                config=loaded.resolved, secret_values=dict(loaded.secret_values),
                hosts=_hosts(cfg, hosts, network_mode))


def _hosts(cfg: EvalConfig, cli_hosts: list[str] | None, network_mode: str | None) -> tuple[HostSpec, ...]:
    """The engines of a spread run (none: the default engine, with bind mounts, as always)."""
    entries = list(cli_hosts) if cli_hosts else list(cfg.execution.hosts or [])
    if not entries:
        return ()
    key = "--host" if cli_hosts else "execution.hosts"
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        text = entry if isinstance(entry, str) else entry.host
        try:
            check_host(text)
        except ValueError as exc:
            raise ConfigError(key, f"entry {i}: {exc}", hint="a docker context name, unix://..., tcp://host:2376 "
                                                             "or ssh://user@host") from None
        if text in seen:
            raise ConfigError(key, f"entry {i} names an engine already listed", hint="list each engine once")
        seen.add(text)
    if network_mode == "host":
        raise ConfigError(key, "tasks on host networking (a localhost target URL or --network host) cannot be "
                          "spread over engines: localhost is another machine on each",
                          hint="point target.api_endpoint.url at an address every engine reaches")
    return host_specs(entries)


def _build_spec(cfg: EvalConfig, task_cfg, ctask, key: str) -> HarnessBuild | None:
    """The PyPI build of the task's harness when ``build: true`` (the task's, else evaluation's) asks for it.

    The built-in harness is always built locally (no spec); a task's own ``container`` wins over
    ``evaluation.build`` and contradicts its own ``build: true``.
    """
    wanted = task_cfg.build if task_cfg.build is not None else cfg.evaluation.build
    if not wanted or ctask.harness == BUILTIN_HARNESS or (task_cfg.container and task_cfg.build is None):
        return None
    if task_cfg.container:
        raise ConfigError(f"{key}.build", "build: true and container: exclude each other",
                          hint="drop container: to build the harness image from PyPI, or build: to run that image")
    if not ctask.pypi_package:
        inherited = "" if task_cfg.build else " (build: true comes from evaluation.build)"
        raise ConfigError(f"{key}.build", f"harness {ctask.harness} (task {ctask.name}) has no PyPI package to "
                          f"build its image from{inherited}",
                          hint=f"set {key}.build: false to pull {ctask.image}, or a container: you have")
    return harness_build(ctask.harness, ctask.pypi_package, ctask.image)


def _parallelism(run_config: dict[str, Any], ctask) -> int:
    """The requests a task sends at once: its config.params.parallelism, else its harness's default."""
    value = (run_config.get("config", {}).get("params") or {}).get("parallelism")
    try:
        return int(value if value is not None else ctask.default_parallelism or 1)
    except (TypeError, ValueError):
        return 1


def _service_name(task_name: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", task_name.lower()).strip("-.")
    return name or "task"


def _unique(name: str, taken: set[str]) -> str:
    n, candidate = 2, name
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _run_config(nec: dict, task_name: str, cfg: EvalConfig, url: str | None, etype: str,
                model: deploy.ModelPlan | None) -> dict[str, Any]:
    """The file ``nemo-evaluator run_eval --run_config`` reads (the launcher's config_ef.yaml)."""
    endpoint = cfg.target.api_endpoint
    api: dict[str, Any] = {"model_id": model.served_model_name if model else endpoint.model_id,
                           "url": url, "type": etype, "api_key_name": endpoint.api_key_name}
    if endpoint.stream is not None:
        api["stream"] = endpoint.stream
    if endpoint.adapter_config:
        api["adapter_config"] = endpoint.adapter_config
    config = deep_merge(nec.get("config") or {}, {"type": task_name, "output_dir": RESULTS_DIR})
    target = deep_merge({"api_endpoint": api}, nec.get("target") or {})
    return {"config": config, "target": target}


def _check_nemo_evaluator_config(nec: dict, where: str) -> None:
    """Only ``config`` and ``target`` belong in a nemo_evaluator_config; the error names where the key is."""
    unknown = sorted(set(nec) - {"config", "target"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key",
                          hint="nemo_evaluator_config holds config: {params: ...} and target: {...}")


def _metadata(resolved: dict[str, Any]) -> dict[str, Any]:
    """What the launcher records in ``metadata`` (nemo-evaluator keeps it in metadata.yaml)."""
    return {"launcher_resolved_config": resolved, "versioning": {"evalcompose": __version__}}


def _environment(cfg: EvalConfig, task_cfg, extras: DockerExtras, key: str) -> tuple[dict[str, str], dict[str, str]]:
    """Literal env values and secret references (container name -> host name) for one task."""
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    if cfg.target.api_endpoint.api_key_name:
        name = cfg.target.api_endpoint.api_key_name
        secrets[name] = name
    merged = {**cfg.env_vars, **cfg.evaluation.env_vars, **task_cfg.env_vars}
    for name, spec in merged.items():
        where = (f"{key}.env_vars.{name}" if name in task_cfg.env_vars else
                 f"evaluation.env_vars.{name}" if name in cfg.evaluation.env_vars else f"env_vars.{name}")
        parsed = parse_env_spec(spec, where)
        if parsed.host_variable is not None:
            secrets[name] = parsed.host_variable
        else:
            if looks_secret(name) or name == cfg.target.api_endpoint.api_key_name:
                raise ConfigError(where, "a lit: value here would write a secret into the run folder",
                                  hint=f"use host:{name} and export it, or put it in .env")
            env[name] = parsed.value
    env.update(extras.env)
    for name in extras.host_env:
        secrets[name] = name
    if not cfg.execution.telemetry:
        env["NEMO_EVALUATOR_TELEMETRY_LEVEL"] = "0"
    env.setdefault("NEMO_EVALUATOR_SHUTDOWN_TIMEOUT_SECONDS", "1")  # prompt exit on SIGTERM (kill)
    env["EVALCOMPOSE_SECRETS"] = " ".join(sorted(secrets))
    return env, secrets


def _bind_mount(source: str, target: str, cwd: Path, home: Path | None) -> Mount:
    """``execution.mounts.evaluation``: a host path (relative to ``cwd``) onto ``target[:ro]``."""
    path, _, mode = target.partition(":")
    return Mount(host_path(source, cwd, home), path, "ro" in mode.split(","))


def _volume_mount(spec: str, cwd: Path, home: Path | None) -> Mount:
    """``SRC:DST[:ro]`` from ``-v``: a path (made absolute against ``cwd``) or a named volume."""
    parts = spec.split(":")
    source, target = parts[0], parts[1]
    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
    if not source.startswith((".", "/", "~")):
        return Mount(source, target, read_only, volume=True)
    return Mount(host_path(source, cwd, home), target, read_only)




def variable_sources(cfg: EvalConfig) -> dict[str, str]:
    """Host variable -> the config key that names it (for error messages)."""
    out: dict[str, str] = {}
    if cfg.target.api_endpoint.api_key_name:
        out[cfg.target.api_endpoint.api_key_name] = "target.api_endpoint.api_key_name"
    scopes = [("env_vars", cfg.env_vars), ("evaluation.env_vars", cfg.evaluation.env_vars),
              ("deployment.env_vars", cfg.deployment.env_vars)]
    scopes += [(f"evaluation.tasks[{i}].env_vars", t.env_vars) for i, t in enumerate(cfg.evaluation.tasks)]
    for where, env in scopes:
        for name, spec in env.items():
            variable = parse_env_spec(spec, f"{where}.{name}").host_variable
            if variable is not None:
                out.setdefault(variable, f"{where}.{name}")
    for name in parse_docker_args(cfg.execution.extra_docker_args).host_env:
        out.setdefault(name, "execution.extra_docker_args")
    return out
