"""PURE: one run spread over several Docker engines (``execution.hosts`` / ``--host``).

Each engine gets its own compose project (``compose.<engine>.yaml`` in the run folder, project
name ``evalcompose-<id>`` on every engine) made from the run's full compose document: the tasks
placed on that engine, its own model service when there is a deployment, and nothing that needs
this machine's filesystem, since a remote engine resolves bind mounts on ITS host:

* what a task reads (run_config.yml, the entrypoint, pre/post_cmd) becomes compose ``configs``
  with inline ``content`` (compose copies them into the container through the engine's API);
* what it writes (``/results``, its logs) goes to named volumes ``<task>-artifacts`` /
  ``<task>-logs`` on that engine; evalcompose copies them back into ``<task>/artifacts`` and
  ``<task>/logs`` here (``docker cp``) and out again on resume; a ``prepare-volumes`` one-shot
  service gives them to the tasks' user first;
* env files and secrets stay as they are: compose reads both on the client, secrets reach the
  container as compose secrets (never a file we write, never the container's environment).

Placement is static, decided here: tasks in config order, each to the engine with the lowest
load ``(assigned + 1) / weight`` (weight: the engine's ``max_parallel``, else the run's, else 1).
Within an engine the slots of ``max_parallel`` keep the cap work-conserving. A static placement
keeps every engine's project complete and rerunnable with plain ``docker compose up``; a dynamic
queue across engines would need evalcompose (or a shared filesystem) in the loop.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .fragments import gpu_reservation, slot_environment, slots_volume
from .layout import SLOTS_MOUNT, SLOTS_VOLUME

PREPARE_SERVICE = "prepare-volumes"
ENGINE_BLOCK = "x-evalcompose-engine"
TASK_VOLUMES = {"/results": "artifacts", "/evalcompose/logs": "logs"}  # container path -> volume suffix


@dataclass(frozen=True)
class HostSpec:
    """One engine of a spread run: its name in the run folder, how to reach it, its limits."""

    name: str
    engine: str  # "default", a docker context name or an engine URL
    max_parallel: int | None = None
    gpus: str | None = None

    @property
    def file(self) -> str:
        return f"compose.{self.name}.yaml"

    def docker_cli(self) -> str:
        """How a user reaches it with plain docker."""
        if self.engine == "default":
            return "docker"
        return f"docker -H {self.engine}" if "://" in self.engine else f"docker --context {self.engine}"


def host_specs(entries: list) -> tuple[HostSpec, ...]:
    """``execution.hosts`` entries (strings or mappings with host/max_parallel/gpus) -> specs with unique names."""
    specs: list[HostSpec] = []
    taken: set[str] = set()
    for entry in entries:
        text = entry if isinstance(entry, str) else entry.host
        base = engine_slug(text)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        gpus = None if isinstance(entry, str) or entry.gpus is None else str(entry.gpus)
        specs.append(HostSpec(name, text, None if isinstance(entry, str) else entry.max_parallel, gpus))
    return tuple(specs)


def engine_slug(text: str) -> str:
    """A file-name-safe name for an engine: the context name, or the URL's host (or socket folder)."""
    if "://" not in text:
        return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.") or "engine"
    scheme, rest = text.split("://", 1)
    if scheme == "unix":
        parts = [p for p in rest.split("/") if p and p not in ("run", "var", "docker.sock")]
        rest = parts[-1] if parts else "local"
    else:
        rest = rest.split("@")[-1].split("/")[0].split(":")[0]
    return f"{scheme}-" + (re.sub(r"[^a-z0-9_.-]+", "-", rest.lower()).strip("-.") or "engine")


def assign(services: list[str], specs: tuple[HostSpec, ...], run_max_parallel: int | None) -> dict[str, list[str]]:
    """Engine name -> its services (config order), by weighted round robin."""
    weights = {s.name: s.max_parallel or run_max_parallel or 1 for s in specs}
    out: dict[str, list[str]] = {s.name: [] for s in specs}
    for service in services:
        best = min(specs, key=lambda s: ((len(out[s.name]) + 1) / weights[s.name], specs.index(s)))
        out[best.name].append(service)
    return out


def engine_document(full: dict[str, Any], read: Callable[[str], str], spec: HostSpec, services: list[str],
                    run_max_parallel: int | None, user: str, generation: str = "run") -> dict[str, Any]:
    """The compose document of one engine: ``services`` (tasks) of the run's full document ``full``.

    ``read(relative path)`` gives the text of a run-folder file (the inputs that become configs).
    """
    doc: dict[str, Any] = {"name": full["name"],
                           ENGINE_BLOCK: {"name": spec.name, "engine": spec.engine, "services": list(services)}}
    doc["services"] = {}
    model = next((n for n, s in full["services"].items() if s.get("labels", {}).get("evalcompose.role") == "model"),
                 None)
    configs: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    slots = spec.max_parallel or run_max_parallel or 0
    capped = 0 < slots < len(services)
    if model:
        svc = copy.deepcopy(full["services"][model])
        if spec.gpus:
            svc["deploy"] = gpu_reservation(spec.gpus)
        svc["labels"] = {**svc["labels"], "evalcompose.engine": spec.name}
        kept = []
        for entry in svc.get("volumes", []):  # the model's input files of the run folder: configs too
            source, target, *_ = entry.split(":")
            if source.startswith("./"):
                key = _config_name(source[2:])
                configs[key] = {"content": _escape(read(source[2:]))}
                svc.setdefault("configs", []).append({"source": key, "target": target})
            else:
                kept.append(entry)
        if "volumes" in svc:
            svc["volumes"] = kept
        doc["services"][model] = svc
    task_volumes: list[str] = []
    for position, name in enumerate(services):
        svc = copy.deepcopy(full["services"][name])
        svc.pop("build", None)  # the image is shipped to the engine, not built there
        mounts = []
        for entry in svc.get("volumes", []):
            source, target, *mode = entry.split(":")
            if target in TASK_VOLUMES:
                volume = f"{name}-{TASK_VOLUMES[target]}"
                volumes[volume] = {"labels": {"evalcompose.role": "results"}}
                task_volumes.append(volume)
                mounts.append(f"{volume}:{target}")
            elif source.startswith("./"):  # an input file of the run folder
                key = _config_name(source[2:])
                configs[key] = {"content": _escape(read(source[2:]))}
                svc.setdefault("configs", []).append({"source": key, "target": target})
            elif source != SLOTS_VOLUME:
                mounts.append(entry)  # a named volume, or a path on the engine's own host
        svc.pop("environment", None)
        if capped:
            svc["environment"] = slot_environment(position, slots, generation)
            mounts.append(f"{SLOTS_VOLUME}:{SLOTS_MOUNT}")
        svc["volumes"] = mounts
        if spec.gpus and not model:
            svc["deploy"] = gpu_reservation(spec.gpus)
        svc["labels"] = {**svc["labels"], "evalcompose.engine": spec.name}
        depends = dict(svc.get("depends_on") or {})
        depends[PREPARE_SERVICE] = {"condition": "service_completed_successfully"}
        svc["depends_on"] = depends
        doc["services"][name] = svc
    if services:
        first = full["services"][services[0]]
        doc["services"][PREPARE_SERVICE] = _prepare_service(first["image"], task_volumes, user, full["name"], spec)
    if "secrets" in full:
        doc["secrets"] = full["secrets"]
    if configs:
        doc["configs"] = dict(sorted(configs.items()))
    declared = full.get("volumes") or {}
    for svc in doc["services"].values():
        for entry in svc.get("volumes", []):
            if entry.split(":")[0] in declared:
                volumes[entry.split(":")[0]] = declared[entry.split(":")[0]]
    if capped:
        volumes[SLOTS_VOLUME] = slots_volume()
    if volumes:
        doc["volumes"] = dict(sorted(volumes.items()))
    if "networks" in full:
        doc["networks"] = full["networks"]
    return doc


def _prepare_service(image: str, volumes: list[str], user: str, project: str, spec: HostSpec) -> dict[str, Any]:
    """A one-shot root container that gives the task volumes to the tasks' user (fresh volumes are root's)."""
    return {"image": image, "pull_policy": "never" if image.startswith("evalcompose/") else "missing",
            "user": "0:0", "entrypoint": ["/bin/sh", "-c", f"chown -R {user} /v && chmod -R u+rwX /v"],
            "volumes": [f"{v}:/v/{v}" for v in volumes], "network_mode": "none",
            "labels": {"evalcompose.role": "prepare", "evalcompose.engine": spec.name,
                       "evalcompose.invocation": project.removeprefix("evalcompose-")},
            "restart": "no"}


def _config_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", path).strip("-")


def _escape(text: str) -> str:
    return text.replace("$", "$$")


def rerun_notes(specs: tuple[HostSpec, ...], placement: dict[str, list[str]], project: str) -> str:
    """The RERUN.md section of a spread run: per engine, the plain docker commands."""
    lines = ["", "## Several engines", "",
             "Each engine has its own compose project here; run each with plain Compose (from this folder):", ""]
    for spec in specs:
        cli = spec.docker_cli()
        services = placement.get(spec.name, [])
        lines += [f"### {spec.name} ({spec.engine}): {', '.join(services) or 'no tasks'}", "", "```sh",
                  f"{cli} compose -f {spec.file} up            # its tasks (and its own model service)"]
        lines += [f"{cli} cp {project}-{s}-1:/results/. {s}/artifacts   # results back here" for s in services[:3]]
        if len(services) > 3:
            lines.append("# ... the same for its other tasks")
        lines += [f"{cli} compose -f {spec.file} down            # containers and network (-v: its volumes, the "
                  "model cache too)", "```", ""]
    lines.append("Every engine needs the images (evalcompose ships them with docker save | docker load) "
                 "and, for a deployment, the GPUs of its model service.")
    return "\n".join(lines) + "\n"
