"""PURE: a :class:`~composer.plan.Plan` -> the files of its run folder, as text.

Returns ``{relative path: content}``; :mod:`composer.workspace` writes them. Output is stable
(key order fixed, no clocks or ids beyond those in the plan) so golden tests can compare it.
No file holds a secret value: secrets are compose ``secrets`` read from the environment at
``up`` time, for the tasks and the model server alike.

Files mean what the config said. Compose interpolates ``$`` everywhere in compose.yaml (the
``x-evalcompose`` block too), so :func:`compose_document` escapes every string it returns
(``$`` -> ``$$``; :func:`unescape` is the inverse, for readers of the metadata); env files
double-quote and escape their values; a mount whose path holds a ``:`` uses the long syntax,
where it is just a character; no config value is ever pasted into a shell line (the model healthcheck
passes its URL as an argument).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from . import __version__
from .deploy import CACHE_VOLUME
from .deploy import ENTRYPOINT as MODEL_ENTRYPOINT
from .deploy import SERVICE as MODEL_SERVICE
from .escaping import escape
from .images import DEFAULT_BASE_IMAGE, build_block, pypi_dockerfile
from .layout import COMPOSE_FILE, ENTRYPOINT_FILE, MODEL_CACHE_VOLUME
from .plan import Plan, TaskPlan
from .runmeta import FORMAT_VERSION, ModelMeta, RunMeta, TaskMeta
from .templates import template_text

BUILTIN_PREFIX = "evalcompose/"
MODEL_ENTRYPOINT_FILE = "evalcompose-model.sh"
REDACTED = "lit:<not written: delivered as a compose secret>"
# The healthcheck's shell text is fixed; the URL comes as "$1" (never pasted into the line).
HEALTH_PROBE = ('curl -fsS -o /dev/null "$1" || wget -q -O /dev/null "$1" || '
                'python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$1"')


def render(plan: Plan, build_base: str = DEFAULT_BASE_IMAGE) -> dict[str, str]:
    """Every file of the run folder, keyed by path relative to it.

    ``build_base`` is the default BASE_IMAGE of harness images built from PyPI (the caller picks
    one the engine has; ``$EVALCOMPOSE_BASE_IMAGE`` still overrides it when compose builds).
    """
    files = {COMPOSE_FILE: _header(plan) + _dump(compose_document(plan, build_base)),
             ENTRYPOINT_FILE: template_text("task-entrypoint.sh"),
             "config.yaml": "# The resolved config of this invocation (names of secrets only, never values).\n"
                            + _dump(redact(plan.config)),
             "RERUN.md": _rerun_notes(plan)}
    for task in plan.tasks:
        files[f"{task.service}/run_config.yml"] = _dump(redact(task.run_config))
        files[f"{task.service}/task.env"] = _env_file(task.env, f"Settings of task {task.task} (no secret values).")
        for hook, text in task.hooks.items():
            files[f"{task.service}/{hook}.sh"] = f"# {hook} of task {task.task}, from the config\n{text}\n"
        if task.build_spec:
            files[f"{task.build_spec.folder}/Dockerfile"] = pypi_dockerfile()
    if plan.model:
        env = {**plan.model.env, "EVALCOMPOSE_SECRETS": " ".join(sorted(plan.model.secrets))}
        files[f"{MODEL_SERVICE}.env"] = _env_file(env, "Model server settings (no secret values: those are compose secrets).")
        files[MODEL_ENTRYPOINT_FILE] = template_text("model-entrypoint.sh")
    return files


def redact(data: Any) -> Any:
    """``data`` with the value of every ``lit:`` secret (secret-looking name in an ``env_vars``) hidden.

    Those values reach their container as compose secrets from the environment of ``up``;
    the copies of the config we write (config.yaml, each run_config's metadata) keep the name only.
    """
    from .config.docker_args import looks_secret

    if isinstance(data, list):
        return [redact(v) for v in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key == "env_vars" and isinstance(value, dict):
            out[key] = {k: REDACTED if looks_secret(str(k)) and str(v).startswith("lit:") else redact(v)
                        for k, v in value.items()}
        else:
            out[key] = redact(value)
    return out


def compose_document(plan: Plan, build_base: str = DEFAULT_BASE_IMAGE) -> dict[str, Any]:
    """The compose.yaml content as a dict, in the order it is written."""
    doc: dict[str, Any] = {"name": plan.project, "x-evalcompose": run_meta(plan).model_dump(mode="json"), "services": {}}
    if plan.model:
        doc["services"][MODEL_SERVICE] = _model_service(plan)
    for task in plan.tasks:
        doc["services"][task.service] = _task_service(plan, task, build_base)
    secrets = sorted({h for t in plan.tasks for h in t.secrets.values()}
                     | set(plan.model.secrets.values() if plan.model else ()))
    if secrets:
        doc["secrets"] = {name: {"environment": name} for name in secrets}
    if plan.external_network:
        doc["networks"] = {"default": {}, "external": {"external": True, "name": plan.external_network}}
    volumes = {m.source: {"name": m.source} for t in plan.tasks for m in t.mounts if m.volume}
    if plan.model and any(source == CACHE_VOLUME for source, _, _ in plan.model.volumes):
        volumes[CACHE_VOLUME] = {"name": MODEL_CACHE_VOLUME}
    if volumes:
        doc["volumes"] = dict(sorted(volumes.items()))
    out = escape(doc)
    for service, svc in doc["services"].items():  # our own ${EVALCOMPOSE_BASE_IMAGE:-...}: meant for compose
        if "build" in svc:
            out["services"][escape(service)]["build"] = svc["build"]
    return out


def run_meta(plan: Plan) -> RunMeta:
    """The ``x-evalcompose`` block of the plan's compose.yaml (what later commands read back)."""
    model = plan.model
    meta = RunMeta(
        format_version=FORMAT_VERSION,
        generator=f"evalcompose {__version__}",
        invocation_id=plan.invocation_id,
        created=plan.created.isoformat(timespec="seconds"),
        max_parallel=plan.max_parallel,
        host_variables=list(plan.host_variables),
        model=None if model is None else ModelMeta(service=MODEL_SERVICE, kind=model.kind, image=model.image,
                                                   served_model_name=model.served_model_name),
        tasks=[TaskMeta(job_id=t.job_id, index=t.index, service=t.service, task=t.task, harness=t.harness,
                        image=t.image, endpoint_type=t.endpoint_type,
                        model_id=t.run_config["target"]["api_endpoint"].get("model_id")) for t in plan.tasks],
        notes=list(plan.notes),
    )
    return meta


def _labels(plan: Plan, role: str, task: TaskPlan | None = None) -> dict[str, str]:
    labels = {"evalcompose.invocation": plan.invocation_id, "evalcompose.role": role}
    if task:
        labels.update({"evalcompose.job": task.job_id, "evalcompose.task": task.task,
                       "evalcompose.index": str(task.index)})
    return labels


def _task_service(plan: Plan, task: TaskPlan, build_base: str) -> dict[str, Any]:
    svc: dict[str, Any] = {"image": task.image}
    if task.build_spec and next(t for t in plan.tasks if t.image == task.image) is task:  # one build per image
        svc["build"] = build_block(task.build_spec, build_base)
    if task.image.startswith(BUILTIN_PREFIX):
        svc["pull_policy"] = "never"
    svc.update({"init": True, "user": plan.user, "entrypoint": ["/bin/sh", "/evalcompose/task.sh"],
                "env_file": [f"{task.service}/task.env"]})
    if task.secrets:
        svc["secrets"] = [{"source": host, "target": name} for name, host in sorted(task.secrets.items())]
    svc["volumes"] = [_mount(m.source, m.target, m.read_only, m.volume) for m in task.mounts]
    svc["labels"] = _labels(plan, "task", task)
    depends: dict[str, Any] = {}
    if plan.model:
        depends[MODEL_SERVICE] = {"condition": "service_healthy"}
    if task.after:
        depends[task.after] = {"condition": "service_completed_successfully", "required": False}
    if depends:
        svc["depends_on"] = depends
    if plan.network_mode:
        svc["network_mode"] = plan.network_mode
    elif plan.external_network:
        svc["networks"] = ["default", "external"]
    if plan.extras.shm_size:
        svc["shm_size"] = plan.extras.shm_size
    if plan.extras.gpus:
        svc["deploy"] = _gpu_reservation(plan.extras.gpus)
    _docker_run_flags(svc, plan.extras.service)
    svc["restart"] = "no"
    return svc


def _docker_run_flags(svc: dict[str, Any], flags: dict[str, Any]) -> None:
    """The translated ``extra_docker_args`` (see :mod:`composer.config.docker_args`) on a task service.

    Labels and env files add to ours (our labels win); ``--entrypoint X`` runs X with the task
    entrypoint as its arguments, as ``docker run --entrypoint X image bash -c ...`` did.
    """
    for key, value in flags.items():
        if key == "labels":
            svc["labels"] = {**value, **svc["labels"]}
        elif key == "env_file":
            svc["env_file"] = [*svc["env_file"], *value]
        elif key == "entrypoint":
            svc["command"] = svc["entrypoint"]
            svc["entrypoint"] = [value]
        else:
            svc[key] = value


def _model_service(plan: Plan) -> dict[str, Any]:
    m = plan.model
    assert m is not None  # called only for a plan with a model
    svc: dict[str, Any] = {"image": m.image}
    if m.image.startswith(BUILTIN_PREFIX):
        svc["pull_policy"] = "never"
    svc["init"] = True
    # The launcher's `--entrypoint ''` + command line, through the wrapper that exports the secrets.
    svc["entrypoint"] = ["/bin/sh", MODEL_ENTRYPOINT]
    svc["command"] = [m.command]
    svc["env_file"] = [f"{MODEL_SERVICE}.env"]
    if m.secrets:
        svc["secrets"] = [{"source": host, "target": name} for name, host in sorted(m.secrets.items())]
    svc["volumes"] = [_mount(MODEL_ENTRYPOINT_FILE, MODEL_ENTRYPOINT, True)]
    svc["volumes"] += [_mount(source, target, read_only, volume=source == CACHE_VOLUME)
                       for source, target, read_only in m.volumes]
    if m.ipc_host:
        svc["ipc"] = "host"
    if m.shm_size:
        svc["shm_size"] = m.shm_size
    if m.gpus:
        svc["deploy"] = _gpu_reservation(m.gpus)
    svc["healthcheck"] = {"test": ["CMD", "/bin/sh", "-c", HEALTH_PROBE, "healthcheck", m.health_url],
                          "interval": f"{m.health_interval}s", "timeout": "10s", "retries": 3,
                          "start_period": f"{m.readiness_timeout}s"}
    if m.publish_port:
        svc["ports"] = [f"127.0.0.1:{m.publish_port}:{m.port}"]
    if plan.external_network:
        svc["networks"] = ["default", "external"]
    svc["labels"] = _labels(plan, "model")
    svc["restart"] = "no"
    return svc


def _gpu_reservation(gpus: str) -> dict[str, Any]:
    device: dict[str, Any] = {"driver": "nvidia", "capabilities": ["gpu"]}
    if gpus.startswith("device="):
        device["device_ids"] = gpus.removeprefix("device=").strip("\"'").split(",")
    else:
        device["count"] = "all" if gpus == "all" else int(gpus)
    return {"resources": {"reservations": {"devices": [device]}}}


def _mount(source: str, target: str, read_only: bool, volume: bool = False) -> str | dict[str, Any]:
    """A mount: ``SRC:DST[:ro]``, or compose's long syntax when a path holds a ``:`` (then just a character)."""
    src = source if volume or source.startswith(("/", "~")) else f"./{source}"
    if ":" not in src and ":" not in target:
        return f"{src}:{target}:ro" if read_only else f"{src}:{target}"
    out: dict[str, Any] = {"type": "volume" if volume else "bind", "source": src, "target": target}
    if read_only:
        out["read_only"] = True
    if not volume:
        out["bind"] = {"create_host_path": True}  # as the short syntax does
    return out


def _env_file(env: dict[str, str], comment: str, refs: dict[str, str] | None = None) -> str:
    lines = [f"# {comment}"]
    lines += [f"{k}={_env_value(v)}" for k, v in sorted(env.items())]
    lines += [f"{k}={v}" for k, v in sorted((refs or {}).items())]
    return "\n".join(lines) + "\n"


def _env_value(value: str) -> str:
    """A literal for a compose env file: double-quoted (so `` #`` is no comment), ``\\ " $`` escaped."""
    if re.fullmatch(r"[\w./:,@+=-]*", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "$$")
    return f'"{escaped}"'


def _header(plan: Plan) -> str:
    variables = ", ".join(plan.host_variables) or "none"
    return (f"# Generated by evalcompose {__version__} for invocation {plan.invocation_id}.\n"
            f"# Rerun from this folder with plain Docker Compose:  docker compose up\n"
            f"# Host variables read at up time (values are never written here): {variables}\n"
            + _build_note(plan))


def _build_note(plan: Plan) -> str:
    built = sorted({t.image for t in plan.tasks if t.build_spec})
    if not built:
        return ""
    return (f"# Built here from PyPI, not pulled (build: true): {', '.join(built)}.\n"
            "#   Context: build/<harness>/wheelhouse/, Dockerfile: build/<harness>/Dockerfile. The wheelhouse\n"
            "#   holds every wheel, downloaded by evalcompose on the host (hard links into its wheel cache,\n"
            "#   or a symlink to that cache when on another file system), so the build needs no network.\n"
            "#   `docker compose up` builds a missing image, `docker compose build` rebuilds it; base image:\n"
            "#   $EVALCOMPOSE_BASE_IMAGE, else the default in build.args.BASE_IMAGE. (additional_contexts\n"
            "#   could point at the cache directly, but Docker Engine 20.10's BuildKit does not support them.)\n")


def _rerun_notes(plan: Plan) -> str:
    names = " ".join(plan.host_variables)
    export = f"export {names}   # values from your shell or an env file\n" if names else ""
    literal = sorted(plan.secret_values)
    if literal:
        export += (f"# {' '.join(literal)}: the config gives these as lit: values; evalcompose hands them to compose\n"
                   "# at up time and never writes them here: export them with the config's values\n")
    return (f"# Invocation {plan.invocation_id}\n\n"
            "This folder is a complete Docker Compose project; it is safe to commit (no secret values).\n\n"
            f"```sh\n{export}docker compose up --force-recreate   # rerun every task (fresh containers: a\n"
            "                                     # finished run gave its network back to Docker)\n"
            f"docker compose logs -f       # follow\ndocker compose down          # remove containers, keep results\n```\n\n"
            "Each task's results are in `<task>/artifacts/`, its log in `<task>/logs/stdout.log`.\n"
            + _auto_export_note(plan))


def _auto_export_note(plan: Plan) -> str:
    destinations = ((plan.config.get("execution") or {}).get("auto_export") or {}).get("destinations") or []
    if not destinations:
        return ""
    return (f"\nexecution.auto_export ({', '.join(destinations)}) runs when evalcompose starts the tasks; a plain\n"
            f"`docker compose up` does not export. Afterwards: `evalcompose export {plan.invocation_id}`.\n")


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~3x faster on 100-task projects


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def resume_override(services: list[str], lanes: int | None, model: str | None) -> str:
    """``compose.resume.yaml``: re-chain the lanes among the unfinished ``services`` only.

    Used as ``-f compose.yaml -f compose.resume.yaml up -d <services>``; ``!override`` replaces
    each service's ``depends_on`` so finished tasks are not started again.
    """
    lines = ["# Written by evalcompose resume: the unfinished tasks, re-chained among themselves.", "services:"]
    for i, service in enumerate(services):
        deps: dict[str, dict[str, Any]] = {}
        if model:
            deps[model] = {"condition": "service_healthy"}
        if lanes and i >= lanes:
            deps[services[i - lanes]] = {"condition": "service_completed_successfully", "required": False}
        lines.append(f"  {service}:")
        if deps:
            lines.append("    depends_on: !override")
            for dep, spec in deps.items():
                lines.append(f"      {dep}: {json.dumps(spec)}")
        else:
            lines.append("    depends_on: !reset {}")
    return "\n".join(lines) + "\n"
